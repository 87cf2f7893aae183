#!/usr/bin/python3
"""form-fields.py FORM_ID [--urlencoded]: the hidden fields of the form with
that id in the HTML page on stdin, one "name=value" a line, or (with
--urlencoded) as one urlencoded query string, ready to POST."""
import html.parser
import sys
import urllib.parse


class Form(html.parser.HTMLParser):
    def __init__(self, form_id):
        super().__init__()
        self.form_id, self.form, self.fields = form_id, None, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.form = a.get("id")
        if tag == "input" and self.form == self.form_id and a.get("type") == "hidden":
            self.fields.append((a.get("name"), a.get("value", "")))

    def handle_endtag(self, tag):
        if tag == "form":
            self.form = None


p = Form(sys.argv[1])
p.feed(sys.stdin.read())
if "--urlencoded" in sys.argv[2:]:
    print(urllib.parse.urlencode(p.fields))
else:
    for name, value in p.fields:
        print("%s=%s" % (name, value))
