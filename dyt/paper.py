"""The paper's numbers that reports print beside ours (from "Transformers without Normalization", arXiv 2503.10622),
and for each experiment the metric its verdict tests."""

PAPER_RESULTS = {
    "resnet": {
        "metric": "val/acc1",
        "higher_is_better": True,
        "expect": "neutral",  # a negative result and a ranking: verdict lines say what we see, the README interprets
        "paper_metric": "ImageNet-1K top-1 (%), torchvision recipes (appendix)",
        "columns": ("BN (paper)", "DyT (paper)"),
        "rows": [("ResNet-50", 76.2, 68.9), ("VGG19", 72.7, 71.0)],
        "claim": "Replacing BatchNorm in classic ConvNets (ResNet-50, VGG19) with DyT loses accuracy; "
                 "the authors advise replacing LayerNorm only.",
    },
    "convnext": {
        "metric": "val/acc1",
        "higher_is_better": True,
        "paper_metric": "ImageNet-1K top-1 (%)",
        "columns": ("LN (paper)", "DyT (paper)"),
        "rows": [("ConvNeXt-B", 83.7, 83.7), ("ConvNeXt-L", 84.3, 84.4)],
        "claim": "Replacing every LayerNorm of a ConvNeXt (channels-first in stem and downsampling, channels-last "
                 "in the blocks) with DyT, recipe unchanged, matches LN.",
    },
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
        # GPT-2 124M val loss per norm name (Derf paper, "Stronger Normalization-Free Transformers")
        "by_norm": {"ln": 2.94, "dyt": 2.97, "derf": 2.94},
        "claim": "Replacing every norm of an LLM with DyT (tuned, width-dependent alpha inits; LLaMA: plus a "
                 "learnable scalar after the embedding) matches the normalized model's loss.",
    },
    "ablation": {  # the paper's squashing-function ablation (ImageNet-1K, ViT-B; ViT-S rows beside)
        "metric": "val/acc1",
        "expect": "neutral",  # every arm vs LN: the claims are about the arms' order (dyt.analysis.compare, dyt.claims)
        "higher_is_better": True,
        "paper_metric": "ImageNet-1K top-1 (%)",
        "columns": ("learnable alpha", "alpha fixed (\"without alpha\")"),
        "rows": [("ViT-B, identity (no squashing)", "61.0, then diverged", "not reported"),
                 ("ViT-B, tanh (DyT)", 82.5, 81.1),
                 ("ViT-B, hardtanh", 82.2, 80.7),
                 ("ViT-B, sigmoid", 81.6, 80.7),
                 ("ViT-S, identity (no squashing)", "58.5, then diverged", "not reported"),
                 ("ViT-S, tanh / hardtanh / sigmoid", "80.3 / 79.9 / 79.6", "not reported")],
        # ViT-B top-1 per norm name (conf/norm/<name>.yaml); None: the paper's run diverged
        "by_norm": {"identity": None, "dyt": 82.5, "hardtanh": 82.2, "sigmoid": 81.6,
                    "dyt_noalpha": 81.1, "hardtanh_noalpha": 80.7, "sigmoid_noalpha": 80.7},
        "claim": "The squashing function is needed (identity diverges), tanh is the best of tanh, hardtanh and "
                 "sigmoid, and a learnable alpha helps (tanh without alpha: 81.1 vs 82.5, ViT-B).",
    },
}
