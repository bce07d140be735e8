#!/bin/sh
# The proxy image's entry point: render the templates with this container's environment, then
# run the command (nginx). Only variables that are set are replaced, so nginx's own ($host,
# $scheme, ...) stay as they are, as in the official nginx image. The TLS template is used
# only when NGINX_TLS_CERTIFICATE names a certificate (docker/nginx/tls.conf.template).
set -eu

out=/tmp/nginx/conf.d
mkdir -p "$out"
defined=$(awk 'END { for (name in ENVIRON) if (name ~ /^[A-Za-z_][A-Za-z0-9_]*$/) printf "${%s} ", name }' </dev/null)

render() {
    envsubst "$defined" <"$1" >"$out/$2"
}

for template in /etc/nginx/templates/*.template; do
    [ -e "$template" ] && render "$template" "$(basename "$template" .template)"
done
if [ -n "${NGINX_TLS_CERTIFICATE:-}" ]; then
    render /etc/nginx/templates-tls/tls.conf.template 00-tls.conf
fi

exec "$@"
