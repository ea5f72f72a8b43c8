"""The baseline for bench/ballot_load.py: a bare Flask route returning a static 8 KB page."""

from flask import Flask

PAGE = ("<!doctype html><html lang=zh-CN><meta charset=utf-8><title>bare</title><body>"
        + "<p>三亮公示 baseline</p>" * 400)[:8192]

app = Flask(__name__)


@app.get("/bare")
def bare():
    return PAGE
