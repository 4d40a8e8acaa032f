-- POST the scoring request in the file $BENCH_BODY_FILE to /invocations (MLflow's scoring protocol),
-- as application/json, on every keep-alive connection; wrk's own count gives the non-2xx answers.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local f = assert(io.open(assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE is not set"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.path = "/invocations"
wrk.headers["Content-Type"] = "application/json"
