"""Fetches a Prometheus text exposition from argv[1] (an http URL) and parses it with the Prometheus
Python client's parser; prints one JSON object per sample: name, labels, value, and the family's type.
Exits non-zero (with the parser's error) if the text does not parse."""
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

text = urllib.request.urlopen(sys.argv[1], timeout=20).read().decode("utf-8")
for family in text_string_to_metric_families(text):
    for s in family.samples:
        print(json.dumps({"name": s.name, "labels": s.labels, "value": s.value, "type": family.type}))
