"""A tiny random-initialised Llama with a tokenizer trained on the spot: no downloads, ~1 s to build.

`build(directory)` writes a transformers model directory (config, safetensors weights, tokenizer
with a chat template) that `hf/<directory>` loads like any checkpoint. The tokenizer is byte-level
BPE, so every text encodes; its vocabulary is the 256 bytes, a few merges learnt from prompt-like
text and three special tokens. Used by the hf tests and by bench/bench_hf.py.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

CORPUS = [
    "Question: Tom has 3 apples and buys 4 more. How many apples does he have?",
    "Let's think step by step. The answer is 7.",
    "Q: Which of the following is the body cavity that contains the pituitary gland?",
    "(A) Abdominal (B) Cranial (C) Pleural (D) Spinal",
    "The following are multiple choice questions (with answers) about anatomy.",
    "The answer is (B). The answer is (A). The answer is (C). The answer is (D).",
    "Reply with only \"The answer is X.\" where X is the answer. 0 1 2 3 4 5 6 7 8 9 + - * / = $ , .",
]


def build(directory: Path, *, vocab_size: int = 320, hidden: int = 32, layers: int = 2, heads: int = 4,
          seed: int = 0, chat_template: bool = True, add_bos: bool = True) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 20, trainer)
    bos = tok.token_to_id("<s>")
    if add_bos:  # like Llama's tokenizer; without, like GPT-2's and Pythia's (a BOS token never added)
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                           special_tokens=[("<s>", bos)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    if chat_template:
        fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(directory)

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
                         max_position_embeddings=8192, bos_token_id=bos, eos_token_id=tok.token_to_id("</s>"),
                         pad_token_id=tok.token_to_id("<pad>"), tie_word_embeddings=False,
                         initializer_range=0.3)  # wide random weights: greedy text varies instead of repeating
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory
