"""The lab's colours: one legend for token roles and one colour per algorithm, everywhere.

Token roles (Inspect, the samples under the charts, the charts of a single
run): planning amber, high-entropy blue, both purple, execution teal.
Execution tokens are left unhighlighted in text (most tokens are execution
tokens) and drawn with a teal underline; in charts their lines are teal.

Algorithms (every chart with several arms, the study's figures): GRPO blue,
HICRA red, each ablation its own colour; an unknown group gets the next
colour of a spare palette, in the order the chart meets it.
"""

from __future__ import annotations

# Token roles: background of a highlighted token, and the line colour in charts.
ROLE_BG = {"planning": "#fbbf24", "high": "#93c5fd", "both": "#c084fc", "execution": "#ffffff"}
ROLE_LINE = {"planning": "#d97706", "high": "#2563eb", "both": "#9333ea", "execution": "#0d9488"}
ROLE_UNDERLINE = {"execution": "#5eead4"}
ROLE_LABEL = {"planning": "planning token", "high": "high-entropy token", "both": "planning and high-entropy",
              "execution": "execution token"}

# Arms, by group (an algorithm, or a study's group such as "hicra-mined"); the same as training/study_figures.py.
ARM_COLOUR = {"grpo": "#2563eb", "hicra": "#dc2626", "hicra-released": "#ca8a04", "hicra-entropy": "#9333ea",
              "hicra-placebo": "#6b7280", "hicra-mined": "#ea580c", "hicra-generic": "#16a34a",
              "hicra-entropy-matched": "#7c3aed"}
ARM_LABEL = {"grpo": "GRPO", "hicra": "HICRA", "hicra-released": "HICRA (released code)",
             "hicra-entropy": "high-entropy tokens amplified", "hicra-placebo": "placebo (random tokens)",
             "hicra-mined": "HICRA, mined phrases", "hicra-generic": "HICRA, generic phrases",
             "hicra-entropy-matched": "high-entropy tokens, planning budget"}
SPARE = ["#0891b2", "#be185d", "#4d7c0f", "#7c3aed", "#b45309", "#0f766e", "#1e3a8a", "#831843"]

# The bundled task's plans (stacked plan shares): the habitual shortcut grey, the plans that can fit a
# problem in greens and blues, the legacy task's dead-end plan and "no plan" muted.
PLAN_COLOUR = {"shortcut": "#9ca3af", "split": "#059669", "round": "#0284c7", "swap_split": "#65a30d",
               "swap_round": "#4f46e5", "halve": "#b45309", "none": "#e5e7eb"}
# With several arms, a stacked panel's series keep their own colours and the arms differ by line style.
ARM_DASHES = ("solid", "dash", "dot", "dashdot", "longdash")

# Lines that are neither a role nor an arm.
ACCURACY = "#16a34a"
ACCURACY_LIGHT = "#86efac"
NEUTRAL = "#6b7280"
REWARD = "#0891b2"
KL = "#9333ea"
CLIP = "#ea580c"


def arm_colour(group: str, others: list[str] | None = None) -> str:
    """The fixed colour of an arm group; unknown groups take spare colours by their place in ``others``."""
    if group in ARM_COLOUR:
        return ARM_COLOUR[group]
    unknown = [g for g in (others or [group]) if g not in ARM_COLOUR]
    index = unknown.index(group) if group in unknown else len(unknown)
    return SPARE[index % len(SPARE)]


def arm_label(group: str) -> str:
    return ARM_LABEL.get(group, group)
