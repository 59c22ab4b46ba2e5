"""Signal names and numbers as Linux numbers them (x86/arm; what runc and dockerd accept)."""

from __future__ import annotations

SIGNALS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
    "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
    "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
    "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
    "POLL": 29, "PWR": 30, "SYS": 31,
}  # fmt: skip
SIGRTMIN, SIGRTMAX = 34, 64


def signal_number(raw: str | int) -> int | None:
    """ "9", 9, "KILL", "sigkill", "SIGRTMIN+3" → the signal's number; None if it names none."""
    if isinstance(raw, int):
        return raw if 0 < raw <= SIGRTMAX else None
    text = raw.strip()
    if text.isdigit():
        num = int(text)
    else:
        name = text.upper().removeprefix("SIG")
        if name in SIGNALS:
            num = SIGNALS[name]
        elif name.startswith(("RTMIN", "RTMAX")):
            base = SIGRTMIN if name.startswith("RTMIN") else SIGRTMAX
            off = name[5:]
            if off and not off.lstrip("+-").isdigit():
                return None
            num = base + int(off) if off else base
        else:
            return None
    return num if 0 < num <= SIGRTMAX else None
