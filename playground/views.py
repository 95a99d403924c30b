from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def compare_page(request: HttpRequest) -> HttpResponse:
    return render(request, "playground/compare.html", {})
