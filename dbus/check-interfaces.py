#!/usr/bin/python3
"""Checks the interface XML files: each parses, holds one <node> with exactly one <interface>
named after the file, every method, signal and property is preceded by a documentation comment
naming it, every argument has a name and a valid direction, and annotations use known values."""
import sys
import xml.dom.minidom
from xml.dom import Node

DOCUMENTED = ('method', 'signal', 'property')
EMITS = {'true', 'invalidates', 'const', 'false'}


def preceding_comment(el):
    n = el.previousSibling
    while n is not None and n.nodeType == Node.TEXT_NODE and not n.data.strip():
        n = n.previousSibling
    return n.data if n is not None and n.nodeType == Node.COMMENT_NODE else None


def check(path):
    errors = []
    doc = xml.dom.minidom.parse(path)
    node = doc.documentElement
    if node.tagName != 'node':
        return [f'{path}: root element is <{node.tagName}>, not <node>']
    ifaces = [c for c in node.childNodes if c.nodeType == Node.ELEMENT_NODE]
    if len(ifaces) != 1 or ifaces[0].tagName != 'interface':
        return [f'{path}: <node> must hold exactly one <interface>']
    iface = ifaces[0]
    name = iface.getAttribute('name')
    if not path.endswith('/' + name + '.xml') and path != name + '.xml':
        errors.append(f'{path}: interface {name} does not match the file name')
    if not preceding_comment(iface) or name + ':' not in preceding_comment(iface):
        errors.append(f'{path}: interface {name} has no documentation comment')
    for el in iface.childNodes:
        if el.nodeType != Node.ELEMENT_NODE:
            continue
        kind, member = el.tagName, el.getAttribute('name')
        if kind not in DOCUMENTED:
            errors.append(f'{path}: unexpected <{kind}> in the interface')
            continue
        comment = preceding_comment(el)
        if not comment or member + ':' not in comment:
            errors.append(f'{path}: {kind} {member} has no documentation comment')
            comment = ''
        for arg in el.getElementsByTagName('arg'):
            aname = arg.getAttribute('name')
            if not aname or not arg.getAttribute('type'):
                errors.append(f'{path}: {kind} {member}: an argument lacks a name or type')
            elif '@' + aname + ':' not in comment:
                errors.append(f'{path}: {kind} {member}: argument {aname} is not documented')
            direction = arg.getAttribute('direction')
            if kind == 'method' and direction not in ('in', 'out'):
                errors.append(f'{path}: {member}.{aname}: direction must be in or out')
            if kind == 'signal' and direction not in ('', 'out'):
                errors.append(f'{path}: signal {member}.{aname}: direction must be absent')
        if kind == 'property':
            if el.getAttribute('access') not in ('read', 'write', 'readwrite') or not el.getAttribute('type'):
                errors.append(f'{path}: property {member}: bad access or type')
        for ann in el.getElementsByTagName('annotation'):
            if (ann.getAttribute('name') == 'org.freedesktop.DBus.Property.EmitsChangedSignal'
                    and ann.getAttribute('value') not in EMITS):
                errors.append(f'{path}: {member}: bad EmitsChangedSignal value')
    return errors


def main():
    errors = []
    for path in sys.argv[1:]:
        try:
            errors += check(path)
        except Exception as e:  # a parse error names the line and column
            errors.append(f'{path}: {e}')
    for e in errors:
        print(e)
    if not errors:
        print(f'{len(sys.argv) - 1} interface files ok')
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
