# MassiveText server image: `massivetext serve` for a model directory mounted at /model.
#
#   docker build -t massivetext-serve .
#   docker run --rm -p 8000:8000 -v /path/to/checkpoint:/model:ro -e MASSIVETEXT_API_KEY=sk-... massivetext-serve
#
# CPU by default; for NVIDIA GPUs build with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124
# and run with --gpus all (the server picks cuda when it is available).
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

# torch first, from the index that matches the hardware, so pip does not pull a multi-GB CUDA build by accident
RUN pip install --index-url "$TORCH_INDEX" "torch>=2.4,<2.15"

WORKDIR /opt/massivetext
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[serve]" && useradd --create-home --uid 10001 massivetext

USER massivetext
EXPOSE 8000
# inside the container the server must listen on all interfaces; publish the port only where it should be seen
# (-p 127.0.0.1:8000:8000 behind a reverse proxy on the same host), and set MASSIVETEXT_API_KEY
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["massivetext", "serve", "--model", "/model", "--host", "0.0.0.0", "--port", "8000"]
CMD []
