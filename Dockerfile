# Kabinet: one static binary on a small image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /kabinet ./cmd/kabinet

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata && rm -rf /var/lib/apt/lists/*
COPY --from=build /kabinet /usr/local/bin/kabinet
USER nobody
ENTRYPOINT ["kabinet"]
CMD ["serve"]
