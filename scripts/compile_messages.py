"""Compile torg's translations (.po → .mo) without requiring GNU gettext.

`make` calls this before the server or the tests start. With `msgfmt` on the PATH (Debian
package `gettext`) it is used, with format checks; otherwise a small pure-Python compiler
writes the same .mo files, so a fresh machine needs nothing but Python. Only .po files under
src/torg are compiled (never the virtualenv's). No .po files yet is fine: nothing to do.
"""
from __future__ import annotations

import ast
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "torg"


def parse_po(path: Path) -> dict[bytes, bytes]:
    """The translated messages of a .po file as .mo keys and values (fuzzy and empty ones left out)."""
    messages: dict[bytes, bytes] = {}
    entry: dict[str, str | dict[int, str]] = {}
    fuzzy = False
    section: tuple[str, int] | None = None

    def flush() -> None:
        nonlocal entry, fuzzy
        if "msgid" in entry and not fuzzy:
            msgid = str(entry["msgid"])
            key = msgid
            if "msgctxt" in entry:
                key = f"{entry['msgctxt']}\x04{msgid}"
            plurals = entry.get("msgstr_plural")
            if isinstance(plurals, dict):
                key = f"{key}\0{entry.get('msgid_plural', '')}"
                value = "\0".join(plurals[i] for i in sorted(plurals))
            else:
                value = str(entry.get("msgstr", ""))
            if value.replace("\0", "") and (msgid or "msgctxt" not in entry):
                messages[key.encode("utf-8")] = value.encode("utf-8")
        entry, fuzzy = {}, False

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#,") and "fuzzy" in line:
            if "msgid" in entry and "msgstr" in entry or "msgstr_plural" in entry:
                flush()
            fuzzy = True
            continue
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            if section is None:
                raise ValueError(f"{path}:{number}: a string continues nothing")
            text = ast.literal_eval(line)
        elif keyword in {"msgctxt", "msgid", "msgid_plural", "msgstr"} or keyword.startswith("msgstr["):
            if keyword in {"msgctxt", "msgid"} and ("msgstr" in entry or "msgstr_plural" in entry):
                flush()  # a "#, fuzzy" before this entry would have flushed the previous one already
            text = ast.literal_eval(rest.strip())
            if keyword.startswith("msgstr["):
                section = ("msgstr_plural", int(keyword[7:-1]))
                entry.setdefault("msgstr_plural", {})
            else:
                section = (keyword, 0)
                entry[keyword] = ""
        else:
            raise ValueError(f"{path}:{number}: cannot read {raw!r}")
        name, index = section
        if name == "msgstr_plural":
            plurals = entry["msgstr_plural"]
            assert isinstance(plurals, dict)
            plurals[index] = plurals.get(index, "") + text
        else:
            entry[name] = str(entry[name]) + text
    flush()
    return messages


def write_mo(messages: dict[bytes, bytes], target: Path) -> None:
    keys = sorted(messages)
    ids = b"".join(k + b"\0" for k in keys)
    strs = b"".join(messages[k] + b"\0" for k in keys)
    header_size = 7 * 4
    table_size = len(keys) * 8
    ids_start = header_size + 2 * table_size
    strs_start = ids_start + len(ids)
    id_table, str_table = [], []
    offset = 0
    for k in keys:
        id_table += [len(k), ids_start + offset]
        offset += len(k) + 1
    offset = 0
    for k in keys:
        value = messages[k]
        str_table += [len(value), strs_start + offset]
        offset += len(value) + 1
    header = struct.pack("Iiiiiii", 0x950412DE, 0, len(keys), header_size, header_size + table_size, 0, 0)
    target.write_bytes(header + struct.pack(f"{len(id_table)}i", *id_table)
                       + struct.pack(f"{len(str_table)}i", *str_table) + ids + strs)


def main(quiet: bool = False) -> int:
    """Compile every .po newer than its .mo; 1 when msgfmt refuses one (its messages on stderr)."""
    po_files = sorted(p for p in SOURCE.rglob("*.po") if "locale" in p.parts)
    msgfmt = shutil.which("msgfmt")
    for po in po_files:
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        # Written beside and renamed: a process reading the catalogue meanwhile sees the old or the new one whole.
        partial = mo.with_name(f".{mo.name}.{os.getpid()}.tmp")
        try:
            if msgfmt:
                result = subprocess.run([msgfmt, "--check-format", "-o", str(partial), str(po)],
                                        capture_output=True, text=True)
                if result.returncode != 0:
                    print(f"{po.relative_to(ROOT)}: {result.stderr.strip()}", file=sys.stderr)
                    return 1
            else:
                write_mo(parse_po(po), partial)
            os.replace(partial, mo)
        finally:
            partial.unlink(missing_ok=True)
    if not quiet:
        print(f"translations: {len(po_files)} catalogue(s) compiled" if po_files else "translations: none yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
