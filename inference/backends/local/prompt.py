"""The request as model inputs (the tokenizer's chat template) and `generate`'s settings."""

from __future__ import annotations

from typing import Any

from inference.backends.base import BadRequestError, ChatRequest, ContextTooLongError
from inference.backends.local.loading import LoadedModel

DEFAULT_MAX_NEW_TOKENS = 1024


def conversation(request: ChatRequest) -> list[dict[str, str]]:
    """The request as chat-template messages, the system prompt first."""
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages += [{"role": m.role, "content": m.content} for m in request.messages]
    return messages


def encode_prompt(tokenizer: Any, request: ChatRequest) -> dict[str, Any]:
    """input_ids and attention_mask (batch of one) built by the tokenizer's chat template.

    Templates that refuse a system role get it prepended to the first user message; a
    tokenizer without a template (a base model) gets the turns joined by blank lines.
    """
    messages = conversation(request)
    if not getattr(tokenizer, "chat_template", None):
        text = "\n\n".join(m["content"] for m in messages)
        return _model_inputs(tokenizer(text, return_tensors="pt"))
    try:
        return _apply_template(tokenizer, messages)
    except Exception as exc:
        if not request.system:
            raise BadRequestError(f"The model's chat template failed: {exc}") from exc
    folded = conversation(ChatRequest(model=request.model, messages=request.messages))
    if folded and folded[0]["role"] == "user":
        folded[0] = {"role": "user", "content": f"{request.system}\n\n{folded[0]['content']}"}
    try:
        return _apply_template(tokenizer, folded)
    except Exception as exc:
        raise BadRequestError(f"The model's chat template failed: {exc}") from exc


def _apply_template(tokenizer: Any, messages: list[dict[str, str]]) -> dict[str, Any]:
    encoded = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    return _model_inputs(encoded)


def _model_inputs(encoded: Any) -> dict[str, Any]:
    # Some tokenizers add token_type_ids, which causal LMs' generate() rejects.
    return {key: encoded[key] for key in ("input_ids", "attention_mask") if key in encoded}


def generation_settings(
    request: ChatRequest, loaded: LoadedModel, input_length: int
) -> dict[str, Any]:
    """Keyword arguments for `generate`: greedy unless a temperature above 0 is asked for."""
    max_new_tokens = request.max_tokens or DEFAULT_MAX_NEW_TOKENS
    context = getattr(loaded.model.config, "max_position_embeddings", None)
    if isinstance(context, int) and context > 0:
        room = context - input_length
        if room <= 0:
            raise ContextTooLongError(
                f"The prompt is {input_length} tokens; the model's context is {context}."
            )
        max_new_tokens = min(max_new_tokens, room)
    tokenizer = loaded.tokenizer
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    settings: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": pad}
    if request.temperature:
        settings.update(do_sample=True, temperature=request.temperature)
    else:  # None or 0: greedy, and no sampling knobs left over from generation_config
        settings.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return settings
