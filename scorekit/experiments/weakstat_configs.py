"""The WeakStatSeg loss ablation's configurations: pure data, so that the command line lists
them without importing torch."""

# name → (losses, weak-mask size); column titles in the paper's order.
CONFIGS = {
    "stat-only": (["stat"], None),
    "stat+weak-4%": (["stat", "weak"], 0.04),
    "stat+weak-8%": (["stat", "weak"], 0.08),
    "stat+weak-12%": (["stat", "weak"], 0.12),
    "weak-only": (["weak"], 0.08),
    "full": (["full"], None),
}
TITLES = {"stat-only": "L_s only", "stat+weak-4%": "L_s + L_ws (4 %)",
          "stat+weak-8%": "L_s + L_ws (8 %)", "stat+weak-12%": "L_s + L_ws (12 %)",
          "weak-only": "L_ws only (8 %)", "full": "Fully supervised"}
