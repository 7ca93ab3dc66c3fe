"""Reports for people: the self-contained HTML report and the pieces of text reports.

`bucketwatch report` renders it from a lake (detections' rule matches, posture findings), and
`bucketwatch demo` from what the demo ran; both use the same components (`html`), the same
result helpers (`results`), and the lake loader (`lake`) reads what `detect`, `scan --lake` and
`check --lake` wrote.
"""
