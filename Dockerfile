# Convnet Lab: one app server. docker-compose.yml runs several behind a sticky proxy.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Models trained or uploaded in the app go to a volume that every replica shares;
# the class store is PostgreSQL when CONVNET_LAB_DB names it, else a SQLite file in /data.
ENV CONVNET_LAB_MODELS=/models CONVNET_LAB_DB=sqlite:////data/classroom.db
RUN mkdir -p /models /data && useradd --create-home --uid 1000 lab && chown lab /models /data
USER lab
VOLUME ["/models", "/data"]

EXPOSE 8501
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=2)"
CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501", \
     "--server.headless=true", "--server.fileWatcherType=none", "--browser.gatherUsageStats=false"]
