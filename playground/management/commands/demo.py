"""`make demo`: the playground with the upstream simulator as providers, fully offline."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from inference.demo import configure_demo_scenarios, register_simulated_providers
from inference.simulator import Simulator


class Command(BaseCommand):
    help = "Run the playground with simulated providers (no keys, no network)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--addrport", default="127.0.0.1:8000")
        parser.add_argument("--simulator-port", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        simulator = Simulator(port=options["simulator_port"])
        configure_demo_scenarios(simulator)
        simulator.start_in_thread()
        names = register_simulated_providers(simulator)
        self.stdout.write(
            f"Simulator on {simulator.base_url}; models: {', '.join(names)}\n"
            f"Open http://{options['addrport']}/ and pick the 'Simulated (offline)' models."
        )
        try:
            call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            simulator.stop()
