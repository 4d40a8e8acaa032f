-- POST runs/search with a fixed JSON body (BENCH_BODY), e.g. a metric filter over one experiment.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
wrk.method = "POST"
wrk.headers = JSON_HEADERS
wrk.body = os.getenv("BENCH_BODY")
