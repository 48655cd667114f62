#!/usr/bin/env python3
"""Writes an OpenCL C source file into a C file as one string constant: embed-source.py IN OUT NAME."""
import sys

src, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
with open(src, encoding='utf-8') as f:
    text = f.read()
with open(out, 'w', encoding='utf-8') as f:
    f.write('/* Generated from %s at build time. */\n' % src.rsplit('/', 1)[-1])
    f.write('const char %s[] =\n' % name)
    for line in text.splitlines(True):
        f.write('        "%s"\n' % line.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n'))
    f.write('        ;\n')
