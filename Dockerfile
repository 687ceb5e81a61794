# HICRA Lab as a Docker image / Docker Space (front matter `sdk: docker`, `app_port: 7860`): port 7860, user 1000.
# docs/space.md has both deployment paths (Docker and the Gradio SDK) and what an owner sets.
#
#   docker build -t hicra-lab .                                                       # CPU torch (default)
#   docker build -t hicra-lab --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .   # a CUDA build
#   docker run -p 7860:7860 hicra-lab
FROM python:3.11-slim

RUN useradd -m -u 1000 user
USER user
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    HICRA_LAB_DATA=/home/user/data \
    HF_HOME=/home/user/.cache/huggingface
WORKDIR /home/user/app
RUN mkdir -p /home/user/data /home/user/.cache/huggingface

# torch first, from TORCH_INDEX: the CPU-only wheels by default (a few hundred MB, where PyPI's Linux
# wheel pulls the multi-GB CUDA libraries). A GPU image: --build-arg TORCH_INDEX=<a CUDA wheel index>,
# e.g. https://download.pytorch.org/whl/cu128, or TORCH_INDEX=https://pypi.org/simple for PyPI's build.
ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX="https://download.pytorch.org/whl/cpu"
RUN pip install --user --index-url "$TORCH_INDEX" "$TORCH_SPEC"
COPY --chown=user requirements.txt .
RUN pip install --user -r requirements.txt
COPY --chown=user . .

# On a Space (SPACE_ID set) the app starts in public mode unless HICRA_LAB_PUBLIC=0 (lab/space.py).
EXPOSE 7860
CMD ["python", "app.py"]
