"""Minimal JUnit XML writer: Jenkins' `junit` step reads these reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET


@dataclass(frozen=True)
class TestCase:
    name: str
    classname: str
    failure: str | None = None  # None means passed
    details: str = ""  # body of the failure element, or system-out when passed


def write_junit(path: Path, suite_name: str, cases: list[TestCase]) -> Path:
    failures = sum(case.failure is not None for case in cases)
    suite = ET.Element("testsuite", name=suite_name, tests=str(len(cases)), failures=str(failures), errors="0")
    for case in cases:
        element = ET.SubElement(suite, "testcase", name=case.name, classname=case.classname)
        if case.failure is not None:
            failure = ET.SubElement(element, "failure", message=case.failure)
            failure.text = case.details or case.failure
        elif case.details:
            ET.SubElement(element, "system-out").text = case.details
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
    return path
