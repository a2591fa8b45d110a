"""Reads a JUnit XML report the way two CI systems do, for the JUnit test.

Usage: junit_check.py SCHEMA REPORT

1. Validates REPORT against SCHEMA (Jenkins' junit-10.xsd) with xmllint; exits 1
   with xmllint's complaint when it does not validate.
2. Reads it as GitLab's unit test report parser does (GitLab's documentation of
   "Unit test reports"): every <testcase> under the root, its name, classname and
   time (a number), and its status from the first child among <failure>, <error>
   and <skipped>, whose text GitLab shows as the details; any other test case is a
   success. Prints the cases as JSON.
"""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET


def main():
    schema, report = sys.argv[1], sys.argv[2]
    lint = subprocess.run(
        ["xmllint", "--noout", "--schema", schema, report],
        capture_output=True,
        text=True,
    )
    if lint.returncode != 0:
        sys.stderr.write(lint.stderr)
        sys.exit(1)
    root = ET.parse(report).getroot()
    if root.tag not in ("testsuites", "testsuite"):
        sys.exit(f"root element <{root.tag}> is neither <testsuites> nor <testsuite>")
    cases = []
    for suite in root.iter("testsuite"):
        for case in suite.findall("testcase"):
            status, details = "success", None
            for kind, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
                element = case.find(kind)
                if element is not None:
                    status, details = name, element.text or ""
                    break
            cases.append(
                {
                    "suite": suite.get("name"),
                    "classname": case.get("classname"),
                    "name": case.get("name"),
                    "time": float(case.get("time", "0")),
                    "status": status,
                    "details": details,
                }
            )
    json.dump(cases, sys.stdout)


main()
