#!/usr/bin/env python3
"""Puts each known defect of the answer protocol back into the code, one at a time, and runs the
seeded simulator until it fails: a check that the simulator can still find them. Leaves the source
as it found it (git checkout of the touched files). Usage: deploy/dev/sim-mutants.py [SEEDS]"""
import subprocess, sys, os

os.chdir(os.path.join(os.path.dirname(__file__), "..", ".."))
SEEDS = sys.argv[1] if len(sys.argv) > 1 else "5000"
SES = 'crates/exam-candidate/src/session.rs'
ENG = 'crates/exam-site-core/src/engine.rs'
JOU = 'crates/exam-candidate/src/journal.rs'

def rep(path, old, new):
    s = open(path).read()
    if old not in s:
        sys.exit(f"{path} changed: cannot put the defect back ({old.strip()[:50]}…); update this script")
    open(path, 'w').write(s.replace(old, new, 1))

NO_SYNC_GATE = (SES, "        if !self.online || !self.synced || self.hold != Hold::None {",
                "        if !self.online || self.hold != Hold::None {")
GAPS_TAKEN = (ENG, """        if seq > next_seq {
            return self
                .outputs
                .push_back(refuse(SaveRefusal::OutOfOrder { expected: next_seq }));
        }""", """        while (a.decided.len() as u64) + 1 < seq {
            a.decided.push(Decided { digest: 0, refused: false, committed: true });
        }""")
DUPS_UNCHECKED = (ENG, "            let identical = d.digest == digest;",
                  "            let identical = true || d.digest == digest;")
MUTANTS = {
    "1 reconnect reordering": [NO_SYNC_GATE, GAPS_TAKEN],
    "2 gaps count as duplicates": [GAPS_TAKEN, DUPS_UNCHECKED],
    "3 new machine numbering": [(ENG, """        let next_seq = a.next_seq();
        a.conn_floor = next_seq;""", """        let next_seq = a.committed_seq + 1;
        a.conn_floor = next_seq;""")],
    "4 stale-login window": [NO_SYNC_GATE,
        (SES, "            SiteMsg::SaveRefused { seq, refusal } if self.synced =>",
              "            SiteMsg::SaveRefused { seq, refusal } if true =>"),
        (SES, "            SaveRefusal::NotLoggedIn => {",
              "            SaveRefusal::NotLoggedIn if true => self.refused_for_good(seq, \"log in first\".into(), false),\n            SaveRefusal::NotLoggedIn => {")],
    "5 torn journal": [
        (JOU, "            Ok((found, len)) if found.clean_len < len => storage",
              "            Ok((found, len)) if false && found.clean_len < len => storage"),
        (JOU, """        } else {
            pos += 1;
            skipped_since_clean += 1;
        }""", """        } else {
            break;
        }""")],
}
files = [SES, ENG, JOU]
missed = []
try:
    for name, patches in MUTANTS.items():
        subprocess.run(["git", "checkout", "-q", "--"] + files, check=True)
        for p in patches:
            rep(*p)
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "exam-sim"], check=True)
        out = subprocess.run(["target/release/exam-sim", "--seeds", SEEDS], capture_output=True, text=True).stdout
        found = [l for l in out.splitlines() if " failed at " in l]
        print(f"defect {name}: " + (found[-1] if found else f"NOT FOUND in {SEEDS} seeds"), flush=True)
        if not found:
            missed.append(name)
finally:
    subprocess.run(["git", "checkout", "-q", "--"] + files, check=True)
sys.exit(1 if missed else 0)
