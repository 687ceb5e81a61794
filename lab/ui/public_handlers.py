"""Public mode's side of the Train and Runs handlers: who may act on a run, and what the page says.

Plain functions (no gradio), like the other handlers. ``who`` is what the
caller presents, as :meth:`training.public.PublicPolicy.visitor` takes it:
``{"hf_user", "login", "token", "session", "address"}`` (any may be missing). Each
function checks ownership and the queue share, then calls the private lab's
handler, so the messages and behaviour stay the same everywhere else.
"""

from __future__ import annotations

import time

from lab.ui import mine_handlers, runs_handlers, train_handlers, watch_handlers
from lab.ui.context import policy, settings
from training.jobs import JobError
from training.public import GB, n_runs


PUBLIC_MAX_SG_SETS = 20  # SG sets one visitor may save (each at most training.paths.MAX_SG_SET_BYTES)


def _visitor(who: dict | None):
    return policy().visitor(**(who or {}))


def sg_dirs(visitor) -> list:
    """The visitor's own SG set folders (one per id they show; they save into the strongest)."""
    return [settings().visitor_sg_sets(i) for i in visitor.ids]


def launch(who: dict | None, *args) -> tuple[str, str]:
    """:func:`train_handlers.launch` for a visitor: refused beyond their share, their network's share,
    the queue cap or the disk; the SG set only by name, from presets or the visitor's own sets."""
    p = policy()
    try:
        visitor = _visitor(who)
        with p.jobs.lock:
            p.admit(visitor)
            message, name = train_handlers.launch(*args, owner=visitor.owner, sg_dirs=sg_dirs(visitor))
            if name:
                p.record_network(name, visitor)
                p.prune()
    except JobError as err:
        return f"⚠️ {err}", ""
    ahead = p.ahead(name) if name else 0
    if ahead:
        message += f" {n_runs(ahead)} ahead of it."
    return message, name


def sg_choices(who: dict | None) -> list[str]:
    """The SG sets a visitor may train with: ground truth, presets and their own saved sets (by name)."""
    try:
        return train_handlers.sg_choices(sg_dirs(_visitor(who)))
    except JobError:
        return train_handlers.sg_choices([])


def use_sg_set(sg_file, who: dict | None) -> str:
    """Save a mined or uploaded SG set into the visitor's own folder (checked, never over another's)."""
    try:
        visitor = _visitor(who)
    except JobError as err:
        return f"⚠️ {err}"
    if visitor.owner is None:
        return "⚠️ This public lab could not tell who is asking, so it cannot keep a set for you."
    p = policy()
    if p.free_bytes() < p.limits.min_free_gb * GB:  # the runs' own floor: saved sets never eat into it
        return (f"⚠️ The lab's disk has less than {p.limits.min_free_gb:g} GiB free; it keeps no new SG sets "
                "until runs end and space returns.")
    return mine_handlers.use_in_runs(sg_file, settings().visitor_sg_sets(visitor.owner),
                                     max_sets=PUBLIC_MAX_SG_SETS)


def stop(name: str, who: dict | None) -> str:
    try:
        policy().check_owner(_visitor(who), name, "stop it")
    except JobError as err:
        return f"⚠️ {err}"
    return train_handlers.stop(name)


def resume(name: str, who: dict | None) -> str:
    """Resume your own run, if its checkpoints are still kept and your queue share allows."""
    p = policy()
    try:
        visitor = _visitor(who)
        with p.jobs.lock:
            p.check_owner(visitor, name, "resume it")
            pruned = p.pruned(name)
            if pruned:
                raise JobError(f"run {name!r} can no longer be resumed: {_pruned_note(pruned)}; "
                               "start a new run")
            p.admit(visitor, resuming=name)
            return train_handlers.resume(name)
    except JobError as err:
        return f"⚠️ {err}"


def delete(name: str, who: dict | None) -> str:
    try:
        policy().check_owner(_visitor(who), name, "delete it")
    except JobError as err:
        return f"⚠️ {err}"
    return runs_handlers.delete(name)


def download_adapter(name: str, who: dict | None) -> tuple[str | None, str]:
    p = policy()
    try:
        p.check_owner(_visitor(who), name, "download its adapter")
        pruned = p.pruned(name)
        if pruned:
            raise JobError(f"run {name!r} has no adapter any more: {_pruned_note(pruned)}")
    except JobError as err:
        return None, f"⚠️ {err}"
    return runs_handlers.download_adapter(name)


def refresh(name: str, who: dict | None, window=10, log_scale: bool = False):
    """:func:`watch_handlers.refresh`, with whose run it is under the status line."""
    status, *rest = watch_handlers.refresh(name, window, log_scale)
    return (with_owner(status, name, who), *rest)


def with_owner(status: str, name: str, who: dict | None) -> str:
    """A run's status line, plus whose run it is (and whether its checkpoints were pruned)."""
    if not name or status.startswith("⚠️"):
        return status
    try:
        info = policy().jobs.info(name)
        visitor = _visitor(who)
    except JobError:
        return status
    if visitor.owns(info):
        status += " · **your run**"
    elif info.get("owner"):
        status += " · another visitor's run: watch and compare it; only they can stop or resume it"
    else:
        status += " · started outside this lab's pages"
    pruned = policy().pruned(name)
    if pruned:
        status += f"\n\n{_pruned_note(pruned).capitalize()}: its metrics and samples stay."
    return status


def _pruned_note(pruned: dict) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(pruned["checkpoints_removed"]))
    return f"its checkpoints were removed on {when} ({pruned.get('why', 'retention')})"


def notice(who: dict | None) -> str:
    """What a visitor of a public lab needs to know: whose runs are whose, the queue, what is kept."""
    p = policy()
    limits = p.limits
    try:
        visitor = _visitor(who)
    except JobError as err:
        return f"⚠️ {err}"
    s = p.summary(visitor)
    if visitor.kind in ("huggingface", "login"):
        you = f"your account **{visitor.user}**"
    elif visitor.kind == "browser":
        you = ("this browser (a random key in its local storage: reloading the page keeps your runs yours; "
               "another browser, a private window or clearing this site's data makes you a new visitor)")
    else:
        you = "this session only (reloading the page makes you a new visitor)"
    mine = ", ".join(f"**{m['name']}** ({m['state']}" + (f", {m['ahead']} ahead" if m["ahead"] else "") + ")"
                     for m in s["mine"]) or "none yet"
    return "\n".join([
        "**Public lab.** Everyone can watch and compare every run; only the visitor who started a run can "
        f"stop, resume or delete it or download its adapter. Runs you start belong to {you}. Your runs: {mine}.",
        "",
        f"**Queue.** At most {n_runs(limits.max_runs_per_owner)} queued or running per visitor, "
        f"{limits.max_runs_per_network} per network address or signed-in account, and {limits.max_queue} "
        f"waiting in all; now {s['running']} running, {s['queued']} waiting.",
        "",
        "**What is kept.** Checkpoints (to resume a run or download its adapter) for the newest "
        f"{limits.keep_checkpoints} ended runs: a run's adapter lasts until {limits.keep_checkpoints} later "
        "runs have ended. Metrics and samples (to watch and compare) for the newest "
        f"{limits.keep_runs} runs; older ended runs are deleted. A run is queued and started only with "
        f"{limits.min_free_gb:g} GiB free on the disk, removing the oldest ended runs' checkpoints first when "
        f"needed. Now: {n_runs(s['runs'])}, {s['with_checkpoints']} with checkpoints, {s['free_gb']:.1f} GiB free.",
    ])
