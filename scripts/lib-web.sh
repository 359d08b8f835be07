# Shared by scripts/bench-datapath.sh and scripts/soak.sh (sourced, not run): the web server both
# drive with wrk, and running a command inside the measured cgroup.

# Runs a command inside the cgroup $CGROUP.
in_cgroup() { sh -c 'echo $$ > "$0/cgroup.procs" && shift && exec "$@"' "$CGROUP" _ "$@"; }

# Starts nginx in $CGROUP, serving a two-byte page on each "ADDRESS:PORT" given; its files in $WORK.
start_test_nginx() {
  local listens=""
  for address in "$@"; do listens+="listen $address; "; done
  mkdir -p "$WORK/html" "$WORK/tmp"
  echo ok >"$WORK/html/index.html"
  cat >"$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/tmp; proxy_temp_path $WORK/tmp; fastcgi_temp_path $WORK/tmp;
  uwsgi_temp_path $WORK/tmp; scgi_temp_path $WORK/tmp;
  server { ${listens}root $WORK/html; }
}
CONF
  in_cgroup nginx -c "$WORK/nginx.conf"
}
