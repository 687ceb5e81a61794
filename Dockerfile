# HICRA Lab as a Docker image / Docker Space: port 7860, user 1000.
FROM python:3.11-slim

RUN useradd -m -u 1000 user
USER user
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    HICRA_LAB_DATA=/home/user/data
WORKDIR /home/user/app
RUN mkdir -p /home/user/data

# torch first: TORCH_SPEC picks the build (e.g. "torch==2.13.0" plus
# TORCH_INDEX for a CPU-only or a specific CUDA wheel index).
ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX=""
RUN pip install --user ${TORCH_INDEX:+--index-url $TORCH_INDEX} "$TORCH_SPEC"
COPY --chown=user requirements.txt .
RUN pip install --user -r requirements.txt
COPY --chown=user . .

EXPOSE 7860
CMD ["python", "app.py"]
