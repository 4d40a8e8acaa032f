-- POST experiments/create with a unique name: BENCH_NAME_PREFIX (unique per wrk run) + thread id + counter.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
wrk.method = "POST"
wrk.headers = JSON_HEADERS
local prefix = os.getenv("BENCH_NAME_PREFIX") or "wrk"

function init(args)
  n = 0
end

function request()
  count("sent")
  n = n + 1
  local body = string.format('{"name":"%s-t%d-%d"}', prefix, tid, n)
  return wrk.format(nil, API .. "/experiments/create", nil, body)
end
