"""The small GPT (gpt2 and llama styles), per-position DyT, and the Shakespeare data."""

import math

import numpy as np
import pytest
import torch

from dyt import DyT, count_norms
from dyt.nn.width_rule import PAPER_TABLE, paper_alpha_init
from dyt.run.data import build_data
from dyt.run.data.text import CharTokenizer, TokenWindows, strip_gutenberg
from dyt.run.job import run
from dyt.run.spec import build_spec
from tests.conftest import build, compose


def _gpt(style, norm, **kw):
    from dyt.nn.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=32, style=style, norm=norm, **kw))


@pytest.mark.parametrize("style,norm", [("gpt2", "ln"), ("gpt2", "dyt"), ("llama", "rmsnorm"), ("llama", "dyt")])
def test_future_tokens_do_not_change_past_logits(style, norm):
    model = _gpt(style, norm).eval()
    idx = torch.randint(0, 50, (2, 16))
    changed = idx.clone()
    changed[:, 10:] = torch.randint(0, 50, (2, 6))
    a, b = model(idx), model(changed)
    torch.testing.assert_close(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 10:], b[:, 10:])


@pytest.mark.parametrize("style,baseline,extra", [("gpt2", "ln", 0), ("llama", "rmsnorm", 1)])
def test_dyt_model_has_no_norm_left_and_only_alphas_added(style, baseline, extra):
    base, dyt = _gpt(style, baseline, embed_scale=False), _gpt(style, "dyt", embed_scale=bool(extra))
    n_norms = 2 * 2 + 1
    assert count_norms(dyt) == {"DyT": n_norms}
    n_base = sum(p.numel() for p in base.parameters())
    assert sum(p.numel() for p in dyt.parameters()) == n_base + n_norms + extra


def test_llama_dyt_has_no_bias_and_gets_the_embedding_scalar_by_default():
    model = build(compose("experiment=llama", "norm=dyt"), num_classes=65)
    assert model.embed_scale is not None and model.embed_scale.item() == pytest.approx(math.sqrt(128))
    assert all(m.bias is None for m in model.modules() if isinstance(m, DyT))
    assert build(compose("experiment=gpt", "norm=dyt"), num_classes=65).embed_scale is None
    with_scalar = compose("experiment=gpt", "norm=dyt_embed")
    assert build(with_scalar, num_classes=65).embed_scale is not None
    assert with_scalar.out_dir == "runs/gpt/dyt-embed-aauto/seed0"  # its own run dir, not the plain dyt one


def test_per_position_alpha_inits_land_where_configured():
    cfg = compose("experiment=llama", "norm=dyt", "norm.alpha_init=0.8", "norm.alpha_mlp=0.2", "norm.alpha_final=0.1")
    model = build(cfg, num_classes=65)
    alphas = {name: m.alpha.item() for name, m in model.named_modules() if isinstance(m, DyT)}
    assert alphas["blocks.0.norm_attn"] == pytest.approx(0.8) and alphas["blocks.1.norm_attn"] == pytest.approx(0.8)
    assert alphas["blocks.0.norm_mlp"] == pytest.approx(0.2) and alphas["norm_final"] == pytest.approx(0.1)
    assert "norm.alpha_mlp=0.2" in build_spec(cfg).norm.rule  # summary.json's alpha_init_note


def test_auto_rule_gives_the_paper_table_and_says_how():
    for width, (attn, other) in PAPER_TABLE.items():
        assert paper_alpha_init(width)[:2] == (attn, other)
    assert paper_alpha_init(128)[:2] == (1.0, 1.0) and "nearest width 1024" in paper_alpha_init(128)[2]
    attn, other, how = paper_alpha_init(2896)  # ~ sqrt(2048 * 4096): halfway in log2
    assert 0.8 < attn < 1.0 and 0.2 < other < 0.5 and "interpolated" in how
    cfg = compose("experiment=gpt", "norm=dyt", "model.kwargs.n_embd=4096", "model.kwargs.n_head=32", "model.kwargs.n_layer=1")
    model = build(cfg, num_classes=65)
    assert model.blocks[0].norm_attn.alpha.item() == pytest.approx(0.8)
    assert model.blocks[0].norm_mlp.alpha.item() == pytest.approx(0.2)


def test_auto_alpha_is_refused_outside_gpt():
    from dyt.run.errors import ConfigError
    from dyt.run.spec import build_spec

    with pytest.raises(ConfigError, match="GPT models only"):
        build_spec(compose("norm=dyt", "norm.alpha_init=auto"))


def test_windows_resume_mid_epoch_at_the_same_position():
    data = TokenWindows(np.arange(10_000) % 97, block_size=16, batch_size=4, seed=5)
    first = [data.batch(s) for s in range(12)]
    stream = data.batches(start_step=9)
    for want in first[9:]:
        got = next(stream)
        assert torch.equal(got[0], want[0])
    x, y = first[0]
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one


def test_shakespeare_split_by_work_and_char_vocabulary():
    data = build_data(compose("experiment=gpt"))
    tok = data.tokenizer
    assert isinstance(tok, CharTokenizer) and 60 <= tok.vocab_size <= 100
    assert len(data.train) > 4_000_000 and 300_000 < len(data.val) < 700_000
    text = tok.decode(data.val.tokens[:2000].tolist())
    assert "HAMLET" in text.upper()
    assert tok.decode(tok.encode("To be, or not to be")) == "To be, or not to be"


def test_gutenberg_header_and_footer_are_stripped():
    text = "junk\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\nHello\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\nlicence"
    assert strip_gutenberg(text) == "Hello\n"
    assert strip_gutenberg("plain text") == "plain text\n"


def test_smoke_runs_leave_a_sample_of_generated_text(smoke_cfg, tmp_path):
    summary = run(smoke_cfg("experiment=llama", "norm=dyt"))
    assert summary["status"] == "completed" and summary["tokens_seen"] == 8 * 32 * 128
    sample = (tmp_path / "run" / "sample.txt").read_text()
    assert len(sample) > 400


def _unigram_entropy(tokens: torch.Tensor) -> float:
    p = torch.bincount(tokens.long()).double()
    p = p[p > 0] / p.sum()
    return float(-(p * p.log()).sum())


@pytest.mark.slow
def test_short_training_beats_the_unigram_entropy(smoke_cfg):
    cfg = smoke_cfg("experiment=gpt", "trainer.max_steps=150", "trainer.eval_every=150", "optim.lr=3e-3",
                    "data.val_limit=32768")
    summary = run(cfg)
    data = build_data(cfg)
    assert summary["final/val/loss"] < _unigram_entropy(data.train.tokens) - 0.3


def _docs(n=200):
    from datasets import Dataset

    rng = np.random.default_rng(0)
    words = ["to", "be", "or", "not", "that", "is", "the", "question"]
    texts = [" ".join(rng.choice(words, size=rng.integers(5, 40))) for _ in range(n)]
    return Dataset.from_dict({"text": texts}).to_iterable_dataset()


def test_stream_resumes_from_its_state_without_replay_or_skip():
    from dyt.run.data.text import ByteTokenizer, StreamingTokens

    def stream():
        return StreamingTokens(_docs(), ByteTokenizer(), text_key="text", block_size=32, batch_size=4, skip_docs=10)

    whole = stream().batches()
    expected = [next(whole) for _ in range(6)]
    first = stream()
    it = first.batches()
    for _ in range(3):
        next(it)
    state = first.state_dict()
    resumed = stream()
    resumed.load_state_dict(state)
    it = resumed.batches()
    for want in expected[3:]:
        got = next(it)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_streaming_hub_corpus_holds_out_its_first_documents(monkeypatch, smoke_cfg):
    import dyt.run.data.hub

    monkeypatch.setattr(dyt.run.data.hub, "load_hub_dataset", lambda *a, **k: _docs())
    cfg = compose("data=fineweb_edu", "data.val_docs=50", "data.block_size=32", "data.batch_size=4")
    data = build_data(cfg)
    assert data.num_classes == 256 and data.train.docs_consumed == 50
    x, y = next(data.train.batches())
    assert x.shape == (4, 32) and torch.equal(x[:, 1:], y[:, :-1])
    assert len(data.val) > 1000
    summary = run(smoke_cfg("experiment=llama", "data=fineweb_edu", "data.val_docs=50", "data.block_size=32",
                            "data.batch_size=4", "trainer.max_steps=4"))
    assert summary["status"] == "completed"


def test_run_config_records_what_auto_alpha_became(smoke_cfg, tmp_path):
    from omegaconf import OmegaConf

    run(smoke_cfg("experiment=llama", "norm=dyt", "trainer.max_steps=2"))
    saved = OmegaConf.load(tmp_path / "run" / "config.yaml")
    assert saved.norm.alpha_init == "auto"
    assert saved.resolved.alpha_attn == 1.0 and saved.resolved.embed_scale is True
    assert "nearest width 1024" in saved.resolved.alpha_rule
    again = run(smoke_cfg("experiment=llama", "norm=dyt", "trainer.max_steps=2"))  # the record is not "another config"
    assert again["step"] == 2
    run(smoke_cfg("experiment=llama", "norm=dyt", "trainer.max_steps=4", "trainer.extend=true"))


def test_hub_corpus_is_tokenized_once_and_cached(monkeypatch, tmp_path):
    from datasets import Dataset, DatasetDict

    import dyt.run.data.hub

    texts = {"train": ["Once upon a time there was a cat."] * 50, "validation": ["The end of the story."] * 20}
    calls = []

    def fake_hub(name, config=None, split=None, **kw):
        calls.append(split)
        return DatasetDict({s: Dataset.from_dict({"text": t}) for s, t in texts.items()})[split]

    monkeypatch.setattr(dyt.run.data.hub, "load_hub_dataset", fake_hub)
    cfg = compose("data=tinystories", f"data.path={tmp_path}", "data.block_size=16", "data.batch_size=4")
    data = build_data(cfg)
    assert calls == ["train", "validation"] and (tmp_path / "train.byte.npy").exists()
    assert data.tokenizer.decode(data.train.tokens[:9].tolist()) == "Once upon"
    build_data(cfg)
    assert calls == ["train", "validation"]  # second time from the cache


def test_gpt2_bpe_without_tiktoken_is_one_clear_error():
    from dyt.run.data import DataError
    from dyt.run.data.text import make_tokenizer

    try:
        import tiktoken  # noqa: F401
    except ImportError:
        with pytest.raises(DataError, match="pip install tiktoken"):
            make_tokenizer("gpt2")
    with pytest.raises(DataError, match="use char, byte or gpt2"):
        make_tokenizer("bpe")
    with pytest.raises(DataError, match="whole corpus"):
        make_tokenizer("char")
