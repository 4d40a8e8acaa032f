-- Scale fill: each thread creates its share of BENCH_POP_RUNS runs in experiment BENCH_EXPERIMENT_ID
-- and logs one batch per run (10 metrics m0..m9, params p0 in {x,y,z,w}, p1, p2), as fast as the
-- server answers. A runs/create reply carries "run_id"; that id is queued and the next request of
-- the thread logs its batch. A thread that has logged its share writes BENCH_DONE_DIR/done.<tid>
-- and stops; the harness sends SIGINT to wrk once every thread is done (wrk -d is only the bound).
-- A few more runs than asked may be created (one per connection at most), without metrics.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local exp_id = os.getenv("BENCH_EXPERIMENT_ID")
local total = env_number("BENCH_POP_RUNS", 1000)
local nthreads = env_number("BENCH_WRK_THREADS", 1)
local max_errors = env_number("BENCH_MAX_ERRORS", 1000)
local P0 = { "x", "y", "z", "w" }

function init(args)
  quota = math.floor(total / nthreads) + ((tid < total % nthreads) and 1 or 0)
  pending, logged, errors, finished = {}, 0, 0, false
  math.randomseed(1000 + tid)
  create = wrk.format("POST", API .. "/runs/create", JSON_HEADERS,
    string.format('{"experiment_id":"%s","start_time":%d}', exp_id, os.time() * 1000))
end

local function batch(run_id)
  local m = {}
  for k = 0, 9 do
    m[#m + 1] = string.format('{"key":"m%d","value":%.6f,"timestamp":%d,"step":0}', k, math.random(), os.time() * 1000)
  end
  local p = string.format('{"key":"p0","value":"%s"},{"key":"p1","value":"%d"},{"key":"p2","value":"const"}',
    P0[math.random(4)], math.random(1000))
  return wrk.format("POST", API .. "/runs/log-batch", JSON_HEADERS,
    string.format('{"run_id":"%s","metrics":[%s],"params":[%s]}', run_id, table.concat(m, ","), p))
end

local function finish()
  if finished then return end
  finished = true
  local f = io.open(os.getenv("BENCH_DONE_DIR") .. "/done." .. tid, "w")
  f:write(logged, "\n")
  f:close()
  wrk.thread:stop()
end

function request()
  count("sent")
  local run_id = table.remove(pending)
  if run_id then return batch(run_id) end
  return create
end

function response(status, headers, body)
  count_status(status)
  if status < 200 or status > 299 then
    errors = errors + 1
    if errors >= max_errors then finish() end
    return
  end
  local run_id = string.match(body, '"run_id"%s*:%s*"([^"]+)"')
  if run_id then
    count("runs_created")
    table.insert(pending, run_id)
  else
    count("runs_logged")
    logged = logged + 1
    if logged >= quota then finish() end
  end
end
