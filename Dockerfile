# Siap112 service image: the same package runs as web (`serve`) or worker
# (`dispatcher`, `relay`) depending on the command.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY dispatch ./dispatch
COPY config ./config
COPY sql ./sql
# Editable install: config/ and sql/ are read from /app beside the package. The roads
# extra is the offline routing engine; its data (`siap112 roads build`) goes in the
# volume at /var/lib/siap112/roads, and without it dispatch ranks by straight line.
RUN pip install --no-cache-dir -e '.[roads]' && useradd --system siap112 \
    && mkdir -p /var/lib/siap112/roads && chown siap112 /var/lib/siap112/roads
USER siap112
EXPOSE 8112
CMD ["siap112", "serve"]
