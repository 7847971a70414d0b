"""Guest instructions a program executes under qemu-user, from qemu's own logs (no TCG plugin).

    python3 .ci/qemu_insn_count.py QEMU [-E VAR=VALUE ...] -- PROGRAM ARGS...

Runs QEMU with `-d in_asm,exec,nochain`: in_asm lists the guest instructions of every translation
block when it is translated, exec logs every execution of a block (nochain makes every execution
visible). The count is the sum over executions of the block's instruction count. Prints the count.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile

BLOCK_START = re.compile(r"^IN:")
INSN = re.compile(r"^0x([0-9a-f]+):\s+[0-9a-f]{8}\s")
EXEC = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")


def count(log_path: str) -> int:
    sizes: dict[int, int] = {}
    total = 0
    start, n = None, 0
    with open(log_path, errors="replace") as log:
        for line in log:
            if BLOCK_START.match(line):
                if start is not None:
                    sizes[start] = n
                start, n = None, 0
            elif m := INSN.match(line):
                if start is None:
                    start = int(m.group(1), 16)
                n += 1
            elif m := EXEC.match(line):
                if start is not None:  # the block just translated is the one executing
                    sizes[start] = n
                    start, n = None, 0
                total += sizes.get(int(m.group(1), 16), 0)
    return total


def main(argv: list[str]) -> int:
    split = argv.index("--")
    qemu, opts, program = argv[0], argv[1:split], argv[split + 1:]
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        subprocess.run([qemu, "-d", "in_asm,exec,nochain", "-D", log.name, *opts, *program],
                       check=True, stdout=subprocess.DEVNULL)
        print(count(log.name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
