"""The paper's numbers that reports print beside ours (from "Transformers without Normalization", arXiv 2503.10622),
and for each experiment the metric its verdict tests."""

PAPER_RESULTS = {
    "vit": {
        "metric": "val/acc1",  # ours: the verdict's metric
        "higher_is_better": True,
        "paper_metric": "ImageNet-1K top-1 (%)",
        "columns": ("LN (paper)", "DyT (paper)"),
        "rows": [("ViT-B", 82.3, 82.5), ("ViT-L", 83.1, 83.6)],
        "claim": "Replacing every LayerNorm of a ViT with DyT (alpha init 0.5, recipe unchanged) matches or beats LN.",
    },
    "gpt": {
        "metric": "val/loss",
        "higher_is_better": False,
        "paper_metric": "loss (lower is better)",
        "columns": ("LN / RMSNorm", "DyT"),
        "rows": [("GPT-2 124M, OpenWebText val loss (Derf paper)", 2.94, 2.97),
                 ("LLaMA 7B, The Pile final train loss (paper)", 1.59, 1.60),
                 ("LLaMA 70B, The Pile final train loss (paper)", 1.45, 1.45)],
        "claim": "Replacing every norm of an LLM with DyT (tuned, width-dependent alpha inits; LLaMA: plus a "
                 "learnable scalar after the embedding) matches the normalized model's loss.",
    },
}
