#!/usr/bin/env python3
"""synack(7), the configuration manual page, generated from docs/configuration.md, so that the
page and the document never say different things (meson builds and installs it).

    python3 docs/gen-man7.py docs/configuration.md synack.7 VERSION
    python3 docs/gen-man7.py --check docs/configuration.md synack.7

--check: exit 1 unless every SYNACK_* variable configuration.md names appears in the page.

The Markdown is the plain subset the document uses: #, ## and ### headings, paragraphs, "*" and "-"
lists, tables, indented and fenced code, `code`, **bold**, *italic*, [links](target).
"""
import re
import sys

VAR = re.compile(r"SYNACK_[A-Z][A-Z0-9_]*")
UNICODE = {
    "\u2014": r"\(em", "\u2013": r"\(en", "\u2192": r"\(->", "\u2190": r"\(<-",
    "\u00b7": r"\(pc", "\u2212": r"\-", "\u2026": "...", "\u2265": r"\(>=", "\u2264": r"\(<=",
    "\u00b5": r"\(mc", "\u00d7": r"\(mu", "\u2018": r"\(oq", "\u2019": r"\(cq",
    "\u201c": r"\(lq", "\u201d": r"\(rq", "\u2248": r"\(~~",
}


def esc(text):
    """Plain text to roff: backslashes, dashes (so options copy as typed), non-ASCII."""
    text = text.replace("\\", r"\e").replace("-", r"\-")
    return "".join(UNICODE.get(c, c) for c in text)


def inline(text):
    """Markdown inline markup to roff fonts; code spans are taken literally."""
    out = []
    for i, part in enumerate(re.split(r"(`[^`]*`)", text)):
        if i % 2:
            out.append(r"\fB" + esc(part[1:-1]) + r"\fR")
            continue
        part = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", part)
        part = esc(part)
        part = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", part)
        part = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"\\fI\1\\fR", part)
        out.append(part)
    line = "".join(out)
    return "\\&" + line if line.startswith((".", "'")) else line


def cells(row):
    return [c.strip() for c in row.strip().strip("|").split("|")]


def table(rows):
    """A table: one tagged paragraph per row, its first cell the tag; the other cells follow
    as "Header: value.", a last column headed Meaning as it is."""
    head, body = cells(rows[0]), [cells(r) for r in rows[2:]]
    out = []
    for row in body:
        out.append(".TP")
        out.append(r"\fB" + inline(row[0].strip("`")) + r"\fR" if row[0].startswith("`")
                   else inline(row[0]))
        parts = []
        for h, c in zip(head[1:-1], row[1:-1]):
            parts.append(inline(h + ": " + c + "."))
        if len(row) > 1:
            parts.append(inline(row[-1]) if head[-1] == "Meaning"
                         else inline(head[-1] + ": " + row[-1] + "."))
        out.append(" ".join(parts))
    return out


def convert(md, version):
    lines = md.splitlines()
    out = [
        '.\\" Generated from docs/configuration.md by docs/gen-man7.py: edit that file.',
        '.TH SYNACK 7 "" "synack %s" "synack manual"' % version,
        ".SH NAME",
        r"synack \- configuration of the synack userspace TCP/IPv4 stack (the SYNACK_* "
        "environment)",
        ".SH DESCRIPTION",
    ]
    i, para = 0, []

    def flush():
        if para:
            out.append(inline(" ".join(para)))
            para.clear()

    while i < len(lines):
        line = lines[i]
        if line.startswith("# "):
            i += 1
            continue
        if line.startswith("## "):
            flush()
            out.append(".SH " + esc(line[3:].upper()))
        elif line.startswith("### "):
            flush()
            out.append(".SS " + inline(line[4:]))
        elif line.startswith("|"):
            flush()
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            out.extend(table(rows))
            out.append(".PP")
            continue
        elif line.startswith("```") or line.startswith("    "):
            flush()
            out.extend([".PP", ".RS 4", ".nf"])
            if line.startswith("```"):
                i += 1
                while i < len(lines) and not lines[i].startswith("```"):
                    out.append(esc(lines[i]) if not lines[i].startswith((".", "'"))
                               else "\\&" + esc(lines[i]))
                    i += 1
            else:
                while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                    if lines[i].strip():
                        out.append(esc(lines[i][4:]))
                    i += 1
                i -= 1
            out.extend([".fi", ".RE", ".PP"])
        elif re.match(r"^\s*[*-] ", line):
            flush()
            item = [re.sub(r"^\s*[*-] ", "", line)]
            while i + 1 < len(lines) and lines[i + 1].startswith("  ") and \
                    not re.match(r"^\s*[*-] ", lines[i + 1]):
                i += 1
                item.append(lines[i].strip())
            out.append(r".IP \(bu 2")
            out.append(inline(" ".join(item)))
        elif not line.strip():
            flush()
            if out[-1] not in (".PP", ".SH DESCRIPTION") and not out[-1].startswith(".SH"):
                out.append(".PP")
        else:
            para.append(line.strip())
        i += 1
    flush()
    out += [".SH SEE ALSO", r"\fBsynack\fR(1), \fBss\fR(8), \fBnstat\fR(8), \fBpacket\fR(7); "
            "docs/configuration.md, docs/deployment.md and docs/operations.md in the synack "
            "source tree."]
    # No empty paragraphs.
    clean = []
    for line in out:
        if line == ".PP" and clean and (clean[-1] == ".PP" or clean[-1].startswith(".SH")):
            continue
        clean.append(line)
    return "\n".join(clean) + "\n"


def main(argv):
    if argv[1:2] == ["--check"]:
        md, page = open(argv[2], encoding="utf-8").read(), open(argv[3], encoding="utf-8").read()
        missing = sorted(set(VAR.findall(md)) - set(VAR.findall(page)))
        if missing:
            print("synack.7 lacks: " + " ".join(missing), file=sys.stderr)
            return 1
        print("synack.7 names all %d SYNACK_* variables of configuration.md"
              % len(set(VAR.findall(md))))
        return 0
    md = open(argv[1], encoding="utf-8").read()
    with open(argv[2], "w", encoding="utf-8") as f:
        f.write(convert(md, argv[3] if len(argv) > 3 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
