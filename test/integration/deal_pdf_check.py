#!/usr/bin/env python3
"""Checks a print form PDF as a reader would (R14), standard library only.

usage: deal_pdf_check.py FILE.pdf EXPECTED.txt [--pages N] [--ink WORD ...]

- the file is a PDF that poppler reads (pdfinfo), made by crm, with every
  font embedded and mapped to Unicode (pdffonts);
- pdftotext finds every line of EXPECTED.txt (one expected phrase a line);
- with --pages, it has exactly N pages;
- with --ink, each WORD is located on the page (pdftotext -bbox) and the
  page rendered (pdftoppm, 72 dpi grey): the word must have ink.  This is
  what catches a glyph that the PDF maps to the right text but draws as
  nothing (the libharu composite-glyph bug the renderer works around).
"""
import html
import re
import subprocess
import sys


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def main():
    args = sys.argv[1:]
    pdf, expected = args[0], args[1]
    pages = None
    ink = []
    i = 2
    while i < len(args):
        if args[i] == "--pages":
            pages = int(args[i + 1])
            i += 2
        elif args[i] == "--ink":
            ink = args[i + 1:]
            break
        else:
            fail("unknown argument " + args[i])

    with open(pdf, "rb") as f:
        data = f.read()
    if not data.startswith(b"%PDF-1.") or b"%%EOF" not in data[-64:]:
        fail("not a complete PDF file")
    info = run("pdfinfo", pdf).decode()
    if "crm (PostgreSQL extension)" not in info:
        fail("Creator is not crm:\n" + info)
    n = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    if pages is not None and n != pages:
        fail(f"{n} pages, expected {pages}")
    fonts = run("pdffonts", pdf).decode().splitlines()[2:]
    if not fonts:
        fail("no fonts")
    for line in fonts:
        cols = line.split()
        # name type... encoding emb sub uni id gen
        emb, sub, uni = cols[-5], cols[-4], cols[-3]
        if emb != "yes" or uni != "yes":
            fail("font not embedded or not mapped to Unicode: " + line)
    text = run("pdftotext", "-layout", pdf, "-").decode()
    flat = re.sub(r"\s+", " ", text)
    with open(expected, encoding="utf-8") as f:
        for want in f.read().splitlines():
            if want.strip() and re.sub(r"\s+", " ", want.strip()) not in flat:
                fail(f"text not found: {want!r}\n--- pdftotext:\n{text}")

    if ink:
        bbox = run("pdftotext", "-bbox", "-f", "1", "-l", "1", pdf, "-").decode()
        words = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', bbox)
        pgm = run("pdftoppm", "-f", "1", "-l", "1", "-r", "72", "-gray", pdf)
        m = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", pgm)
        width, height = int(m.group(1)), int(m.group(2))
        pixels = pgm[m.end():]
        for want in ink:
            boxes = [w for w in words if html.unescape(w[4]) == want]
            if not boxes:
                fail(f"word {want!r} not on page 1")
            for x0, y0, x1, y1, _ in boxes:
                dark = 0
                for y in range(int(float(y0)), min(height, int(float(y1)) + 1)):
                    row = pixels[y * width:(y + 1) * width]
                    dark += sum(1 for x in range(int(float(x0)), min(width, int(float(x1)) + 1)) if row[x] < 200)
                if dark < 3:
                    fail(f"word {want!r} at {x0},{y0} is drawn without ink ({dark} dark pixels)")
    print(f"ok: {pdf}: {n} page(s), {len(fonts)} embedded font(s), text and ink as expected")


if __name__ == "__main__":
    main()
