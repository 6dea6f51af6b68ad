#!/bin/bash
# The image's health check: GET /health/live of the service in this container, on
# ORBIT__SERVICE__HTTP_PORT (or the next ORBIT__SERVICE__HTTP_PORT_ATTEMPTS - 1 ports, where
# replicas share a host network). Healthy when one answers 200. Bash only: the image has no curl.
port=${ORBIT__SERVICE__HTTP_PORT:-9101}
attempts=${ORBIT__SERVICE__HTTP_PORT_ATTEMPTS:-1}
for ((p = port; p < port + attempts; p++)); do
  if exec 3<>"/dev/tcp/127.0.0.1/$p" 2>/dev/null; then
    printf 'GET /health/live HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
    read -r -t 3 _ status _ <&3
    exec 3<&- 3>&-
    [ "$status" = 200 ] && exit 0
  fi
done
exit 1
