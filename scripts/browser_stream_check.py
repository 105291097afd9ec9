#!/usr/bin/env python3
"""Plays a streamed generation in headless Chromium and reports when playback started.

  browser_stream_check.py BASE_URL [--text-file FILE] [--language ru] [--mode regular|parallel] [--timeout 120]

Opens BASE_URL/parallel_test, puts the text in, presses "Stream" and watches the page's
window.streamState: when the request was sent, when the first fragment arrived, when the video showed
its first frame (currentTime > 0) and when the server finished sending. Prints one JSON object.
Chromium is Debian's (/usr/bin/chromium), driven through Playwright's Python package.
"""
import argparse
import json
import sys
import time

from playwright.sync_api import sync_playwright


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("--text-file")
    parser.add_argument("--language", default="ru")
    parser.add_argument("--mode", default="regular")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--executable", default="/usr/bin/chromium")
    args = parser.parse_args()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=args.executable, headless=True,
            args=["--autoplay-policy=no-user-gesture-required", "--no-sandbox"])
        page = browser.new_page()
        console = []
        page.on("console", lambda message: console.append(message.text))
        page.goto(args.base.rstrip("/") + "/parallel_test")
        page.wait_for_function("document.querySelectorAll('#model option').length > 0")
        if args.text_file:
            page.fill("#text", open(args.text_file, encoding="utf-8").read())
        page.select_option("#language", args.language)
        # The voice selector lists the language's voices, its default first.
        page.wait_for_function("document.querySelectorAll('#voice option').length > 1")
        voices = page.eval_on_selector_all("#voice option", "options => options.map(o => o.textContent)")
        page.select_option("#stream-mode", args.mode)
        page.click("#stream")
        deadline = time.time() + args.timeout
        state = None
        while time.time() < deadline:
            state = page.evaluate("window.streamState")
            if state and (state.get("error") or (state.get("doneAt") is not None and state.get("firstFrameAt") is not None)):
                break
            time.sleep(0.05)
        video = page.evaluate("(() => { const v = document.getElementById('video-stream');"
                              " return { currentTime: v.currentTime, error: v.error && v.error.message,"
                              " width: v.videoWidth, height: v.videoHeight }; })()")
        browser.close()
    report = {"state": state, "video": video, "voices": voices, "console": console[-5:]}
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
