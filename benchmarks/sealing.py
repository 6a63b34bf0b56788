"""Issue 4's bidder side, measured: `ebid seal` of a large file beside `age` encrypting the same file.

Both run as child processes on the same input in the same run, in alternating rounds; the wall time
is the best round, the peak memory is each child's own maximum resident set size (`os.wait4`).
`ebid seal` does more than `age`: it builds the bid package (format version 2: bid.json lists each
document's name and size, so the document is read once, as the tar is made while the sealing reads
it), seals it to two recipients with a commitment (one SHA-256 of the package) and a signature over the
chunks' tags, then re-opens its own output with the bidder's key (every chunk's tag, no hashing). A
second row isolates the sealing step (`bidding.envelope.seal` of a package already built) so the two
costs can be told apart.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from benchmarks import benchmark
from benchmarks.common import Report

GIB = 1 << 30
MIB = 1 << 20
BIDDER = "91350100MA000001XY"
PASSWORD = "benchmark password"  # noqa: S105 - a throw-away key file made for the run

#: The sealing step alone, in a child process like the others: a package file to an envelope file.
SEAL_ONLY = """
import sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from bidding import envelope
with open(sys.argv[1], "rb") as package, open(sys.argv[2], "wb") as out:
    envelope.seal(package, out, tender=7, lot=1, bidder=sys.argv[3],
                  opening_public=envelope.raw_public(X25519PrivateKey.generate()),
                  bidder_public=envelope.raw_public(X25519PrivateKey.generate()),
                  signing_key=Ed25519PrivateKey.generate(), version=2)
"""


@dataclass(frozen=True)
class Child:
    """One child process run: wall seconds and its own peak resident set size in bytes."""

    seconds: float
    peak_rss: int


#: GNU time reports the peak RSS of the command itself. Without it, wait4's ru_maxrss is used, which
#: also counts the moment between fork and exec, when the child is still a copy of this process.
TIME = shutil.which("time", path="/usr/bin:/bin")


def _run_child(argv: list[str], env: dict[str, str] | None = None, *, work: Path) -> Child:
    """Run `argv` to completion; its wall time and its own peak resident set size."""
    os.sync()  # the previous run's dirty pages must not slow this one down
    report = work / "time.txt"
    command = [TIME, "-f", "%M", "-o", str(report), *argv] if TIME else argv
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    out = process.stdout.read().decode(errors="replace") if process.stdout else ""
    err = process.stderr.read().decode(errors="replace") if process.stderr else ""
    for stream in (process.stdout, process.stderr):
        if stream:
            stream.close()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} ... failed ({process.returncode}):\n{out}{err}")
    if TIME:
        return Child(seconds, int(report.read_text().split()[-1]) * 1024)  # KiB
    return Child(seconds, usage.ru_maxrss * 1024)  # KiB on Linux


def _ebid() -> list[str]:
    script = Path(sys.executable).with_name("ebid")
    return [str(script)] if script.exists() else [sys.executable, "-m", "signing.client"]


def _make_input(path: Path, size: int) -> None:
    """`size` bytes that do not compress (a random MiB repeated): neither tool gets a free ride."""
    block = os.urandom(MIB)
    with path.open("wb") as out:
        for _ in range(size // MIB):
            out.write(block)
        out.write(block[:size % MIB])


def _scratch(size: int) -> tuple[str | None, str]:
    """Where the files go: $EBID_BENCH_DIR, else a RAM disk with room (so the figures are the tools' own
    work rather than the disk's), else the system's temporary directory."""
    chosen = os.environ.get("EBID_BENCH_DIR")
    if chosen:
        return chosen, f"files in {chosen} ($EBID_BENCH_DIR)"
    shm = Path("/dev/shm")  # noqa: S108 - a RAM disk, used only if present and roomy
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 4 * size + GIB:
        return str(shm), "files on the RAM disk /dev/shm (set EBID_BENCH_DIR to measure a real disk)"
    return None, f"files in {tempfile.gettempdir()} (on disk: write-back makes the figures noisier)"


def _fresh(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


@benchmark("sealing.seal", title="`ebid seal` of a large file beside age to one X25519 recipient",
           comparison="ours: `ebid seal` (package, HPKE to two recipients, AES-256-GCM chunks, commitment, "
                      "Ed25519 signature, then re-opening its own output) and, separately, the sealing step "
                      "alone · reference: `age -r` (X25519, ChaCha20-Poly1305) on the same file")
def seal_beside_age(report: Report, quick: bool) -> None:
    size = 32 * MIB if quick else GIB
    rounds = 2 if quick else 5
    age, age_keygen = shutil.which("age"), shutil.which("age-keygen")
    where, where_note = _scratch(size)
    with tempfile.TemporaryDirectory(prefix="ebid-bench-seal-", dir=where) as tmp:
        work = Path(tmp)
        document, envelope_out = work / "bid-document.bin", work / "envelope.bin"
        package, sealed_only, age_out = work / "package.tar", work / "sealed-only.bin", work / "document.age"
        _make_input(document, size)
        env = {**os.environ, "EBID_PASSWORD": PASSWORD, "TMPDIR": str(work)}
        subprocess.run([*_ebid(), "keygen", "--bidder", BIDDER, "--out", str(work / "key.json")], env=env,  # noqa: S603
                       check=True, capture_output=True)
        (work / "bid.json").write_text(json.dumps({"price": {"amount": "11850000.00", "currency": "CNY"},
                                                   "duration_days": 540, "criteria": {"技术": "见附件"}}),
                                       encoding="utf-8")
        opening = base64.b64encode(X25519PrivateKey.generate().public_key().public_bytes_raw()).decode()
        ebid_seal = [*_ebid(), "seal", "--key", str(work / "key.json"), "--tender", "7", "--lot", "1",
                     "--opening-key", opening, "--bid", str(work / "bid.json"), "--document", str(document),
                     "--out", str(envelope_out)]
        from bidding.package import write_package  # the package the seal-only row starts from

        bid = {"v": 2, "tender": 7, "lot": 1, "bidder": BIDDER,
               "price": {"amount": "1.00", "currency": "CNY"}, "duration_days": 1, "criteria": {}}
        with package.open("wb") as out:
            write_package(out, bid, [("bid-document.bin", document)])
        seal_only = [sys.executable, "-c", SEAL_ONLY, str(package), str(sealed_only), BIDDER]

        age_cmd: list[str] | None = None
        if age and age_keygen:
            keygen = subprocess.run([age_keygen], check=True, capture_output=True, text=True)  # noqa: S603
            recipient = next(line.split(": ", 1)[1] for line in keygen.stdout.splitlines()
                             if line.startswith("# public key: "))
            age_cmd = [age, "-r", recipient, "-o", str(age_out), str(document)]

        ours: list[Child] = []
        step: list[Child] = []
        theirs: list[Child] = []
        envelope_size = 0
        for _ in range(rounds):  # every run starts with only the inputs on the scratch disk
            _fresh(envelope_out, sealed_only, age_out)
            ours.append(_run_child(ebid_seal, env, work=work))
            envelope_size = envelope_out.stat().st_size
            _fresh(envelope_out)
            step.append(_run_child(seal_only, env, work=work))
            _fresh(sealed_only)
            if age_cmd:
                theirs.append(_run_child(age_cmd, work=work))
                _fresh(age_out)

    best = min(ours, key=lambda c: c.seconds)
    best_step = min(step, key=lambda c: c.seconds)
    peak, step_peak = max(c.peak_rss for c in ours), max(c.peak_rss for c in step)
    label = f"{size / GIB:g} GiB" if size >= GIB else f"{size // MIB} MiB"
    if not theirs:
        report.note("age is NOT installed (Debian: apt-get install age): no reference, no ratio")
        report.note(f"`ebid seal` of {label}: best {best.seconds:.2f} s, peak RSS {peak / MIB:.1f} MiB; "
                    f"the sealing step alone: {best_step.seconds:.2f} s, {step_peak / MIB:.1f} MiB")
        return
    reference = min(theirs, key=lambda c: c.seconds)
    age_peak = max(c.peak_rss for c in theirs)
    for name, ours_value, theirs_value, unit in (
            (f"ebid seal {label}, wall time", best.seconds, reference.seconds, "seconds"),
            (f"sealing step alone {label}, wall time", best_step.seconds, reference.seconds, "seconds"),
            (f"ebid seal {label}, peak RSS", peak, age_peak, "bytes"),
            (f"sealing step alone {label}, peak RSS", step_peak, age_peak, "bytes")):
        report.compare(name, ours_value, theirs_value, unit=unit, against="age")  # type: ignore[arg-type]
    ratio = best.seconds / reference.seconds
    report.note(f"goal no slower than age: {'met' if ratio <= 1 else 'NOT met'} ({ratio:.2f}× for "
                f"`ebid seal`, {best_step.seconds / reference.seconds:.2f}× for the sealing step alone)")
    report.note(f"goal under 64 MiB: {'met' if max(peak, step_peak) < 64 * MIB else 'NOT met'} "
                f"(`ebid seal` peaked at {peak / MIB:.1f} MiB, the step alone at {step_peak / MIB:.1f} MiB, "
                f"age at {age_peak / MIB:.1f} MiB)")
    report.note(f"throughput: ebid seal {size / best.seconds / MIB:,.0f} MiB/s, sealing step "
                f"{size / best_step.seconds / MIB:,.0f} MiB/s, age {size / reference.seconds / MIB:,.0f} "
                f"MiB/s; envelope {envelope_size:,} bytes for {size:,} bytes of document")
    report.note("`ebid seal` (format version 2) reads the document once, into the tar, which is made as the "
                "sealing reads it and never touches the disk; it computes SHA-256 once (the package, for "
                "the commitment, on a helper thread beside the encryption), signs the chunks' tags, writes "
                "the envelope and reads it back, decrypting every chunk again to re-open it (its tags, no "
                "hashing), where age encrypts once; it also opens the key file (PBKDF2, 600,000 rounds, "
                "on a thread of its own)")
    runs = "; ".join(f"{name} {', '.join(f'{c.seconds:.2f}' for c in children)}"
                     for name, children in (("ebid seal", ours), ("step", step), ("age", theirs)))
    report.note(f"best of {rounds} alternating rounds; every run in seconds: {runs}")
    report.note("peak RSS from " + ("GNU time (%M)" if TIME else "wait4 (which counts the fork before exec)")
                + f"; {where_note}")
