"""Start the HICRA Lab app on port 7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override)."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from lab.ui import create_app, launch_options  # noqa: E402

if __name__ == "__main__":
    create_app().launch(**launch_options())
