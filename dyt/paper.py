"""The paper's numbers that reports print beside ours (from "Transformers without Normalization", arXiv 2503.10622)."""

PAPER_RESULTS = {
    "vit": {
        "metric": "ImageNet-1K top-1 (%)",
        "rows": [("ViT-B", 82.3, 82.5), ("ViT-L", 83.1, 83.6)],
        "claim": "Replacing every LayerNorm of a ViT with DyT (alpha init 0.5, recipe unchanged) matches or beats LN.",
    },
}
