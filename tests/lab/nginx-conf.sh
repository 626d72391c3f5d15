# Sourced by tests/lab/lib.sh and bench/run.sh (nothing here runs on its own).

# Write DIR/nginx.conf: Debian's nginx in the foreground, one process (master_process off),
# error log DIR/error.log, temp paths in DIR, sendfile on, serving ROOT on ADDR:8080 (or as
# the listen directive LISTEN says, e.g. "[::]:8080 ipv6only=off").
#   nginx_conf DIR ADDR ROOT [WORKER_CONNECTIONS (1024)] [LISTEN]
# With NGINX_WORKERS=N in the environment of the call: nginx's default process model instead,
# a master (still in the foreground) and N worker processes that it forks; the master runs as
# root, the workers as nginx's default user (nobody), so ROOT and the path down to it must be
# readable by everyone. No reuseport: the workers share the master's one listening socket.
# Each response then names the worker that sent it: header X-Worker: PID.
# With NGINX_REUSEPORT=1 as well: `listen ... reuseport`, one listening socket per worker, all
# bound to the one port with SO_REUSEPORT, the stack spreading connections over them.
nginx_conf() {
	local dir=$1 addr=$2 root=$3 conns=${4:-1024} listen=${5:-$2:8080}
	mkdir -p "$dir"
	cat >"$dir/nginx.conf" <<NGEOF
master_process $([[ -n ${NGINX_WORKERS:-} ]] && echo on || echo off);
daemon off;
worker_processes ${NGINX_WORKERS:-1};
pid $dir/nginx.pid;
error_log $dir/error.log info;
events {
    worker_connections $conns;
}
http {
    access_log off;
    sendfile on;
    keepalive_requests 100000;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    default_type application/octet-stream;
    server {
        listen $listen$([[ -n ${NGINX_REUSEPORT:-} ]] && echo ' reuseport');
        root $root;$([[ -n ${NGINX_WORKERS:-} ]] && printf '\n        add_header X-Worker $pid always;')
    }
}
NGEOF
}
