"""Open the built site in headless Chromium and check that its pages render (``make docs``).

For the home page, the gallery index and one gallery example it asserts that the screenshot is
not blank (the grey-level standard deviation is above a threshold), that every <img> has loaded
with a nonzero natural width (the example page must show its figures, the gallery index its
thumbnails) and that the browser console has no error. The pages are served over HTTP on the
loopback interface, as a reader's browser would fetch them.

Uses Debian's ``chromium`` and ``chromium-driver`` through Selenium.

Run: python docs/check_rendered.py [BUILD_DIR]   (default docs/_build/html)
"""

import functools
import http.server
import io
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# (page, the least number of images it must show)
PAGES = [
    ("index.html", 0),
    ("auto_examples/index.html", 10),  # one thumbnail per example
    ("auto_examples/plot_01_hrtem_gold.html", 1),  # the example's figure
]
MIN_STD = 10.0  # grey levels (0-255): a blank or single-colour page is far below this
LOAD_TIMEOUT = 30.0  # seconds for the images to finish loading


def serve(root: Path) -> http.server.ThreadingHTTPServer:
    """A quiet HTTP server for ``root`` on a free loopback port, running in a thread."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",  # small /dev/shm in containers
        "--window-size=1280,1400",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


IMAGES_JS = """
return Array.from(document.images).map(img => {
    img.loading = "eager";  // lazy images below the fold load too
    return [img.getAttribute("src"), img.complete, img.naturalWidth];
});
"""


def check_page(driver, url: str, min_images: int, screenshot: Path) -> list[str]:
    """Load ``url`` and return the problems found (empty when the page renders)."""
    driver.get(url)
    deadline = time.monotonic() + LOAD_TIMEOUT
    images = driver.execute_script(IMAGES_JS)
    while not all(complete for _, complete, _ in images) and time.monotonic() < deadline:
        time.sleep(0.2)
        images = driver.execute_script(IMAGES_JS)
    problems = []
    broken = [src for src, complete, width in images if not complete or width == 0]
    if broken:
        problems.append(f"{len(broken)} image(s) not loaded: {broken[:3]}")
    if len(images) < min_images:
        problems.append(f"{len(images)} image(s), expected at least {min_images}")
    png = driver.get_screenshot_as_png()
    screenshot.write_bytes(png)
    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    if grey.std() < MIN_STD:
        problems.append(f"screenshot looks blank (grey-level std {grey.std():.1f} < {MIN_STD})")
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    problems += [f"console error: {message}" for message in errors]
    loaded = sum(1 for _, complete, width in images if complete and width > 0)
    print(
        f"{url.split('/', 3)[-1]}: {loaded}/{len(images)} images loaded, "
        f"screenshot std {grey.std():.1f}, {len(errors)} console error(s)"
    )
    return problems


def main(root: Path) -> int:
    if not (root / "index.html").is_file():
        print(f"no built site at {root} (run `make docs`)")
        return 1
    shots = root.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    server = serve(root)
    driver = browser()
    failures = {}
    try:
        for page, min_images in PAGES:
            url = f"http://127.0.0.1:{server.server_port}/{page}"
            shot = shots / (page.replace("/", "_").removesuffix(".html") + ".png")
            problems = check_page(driver, url, min_images, shot)
            if problems:
                failures[page] = problems
    finally:
        driver.quit()
        server.shutdown()
    for page, problems in failures.items():
        for problem in problems:
            print(f"FAIL {page}: {problem}")
    print(
        f"browser check: {len(PAGES) - len(failures)}/{len(PAGES)} pages render "
        f"(screenshots in {shots})"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else here / "_build" / "html"))
