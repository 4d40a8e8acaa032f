-- POST runs/log-batch: each request logs BENCH_METRICS_PER_REQ metrics (keys m0..) to one run of a
-- pre-created pool (BENCH_RUN_IDS, comma separated), rotating over the pool. (timestamp, step) are
-- unique per thread and request so no two points collide.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
wrk.method = "POST"
wrk.headers = JSON_HEADERS

local ids = {}
for id in string.gmatch(os.getenv("BENCH_RUN_IDS") or "", "[^,]+") do ids[#ids + 1] = id end
local per_req = env_number("BENCH_METRICS_PER_REQ", 10)

function init(args)
  n = 0
  ts = os.time() * 1000 + tid
  math.randomseed(17 + tid)
end

function request()
  count("sent")
  n = n + 1
  local run_id = ids[(tid * 7919 + n) % #ids + 1]
  local m = {}
  for k = 0, per_req - 1 do
    m[#m + 1] = string.format('{"key":"m%d","value":%.6f,"timestamp":%d,"step":%d}', k, math.random(), ts, n)
  end
  local body = string.format('{"run_id":"%s","metrics":[%s]}', run_id, table.concat(m, ","))
  return wrk.format(nil, API .. "/runs/log-batch", nil, body)
end
