"""Start the HICRA Lab app on port 7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override).

On a Hugging Face Space (``SPACE_ID`` set) public mode is on unless ``HICRA_LAB_PUBLIC=0``: lab/space.py.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from lab.space import apply_space_defaults  # noqa: E402

apply_space_defaults()  # before the app reads its settings

from lab.ui import create_app, launch_options  # noqa: E402

if __name__ == "__main__":
    create_app().launch(**launch_options())
