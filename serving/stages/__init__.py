"""The review, one stage per module, each reading and extending one `ReviewState` per ad:

1. `prepare`   — the stored decision for a replayed request_id (or a conflict), else fetch what
                 came only by URL and extract (`extract.prepare`): limits, probes, page parts.
                 Every ad of a call is prepared concurrently.
2. `fanout`    — the model replicas, once per call: all images and videos to the image model,
                 all texts to the text encoder, then the text read in pixels (OCR) to the encoder,
                 then every ad's `ScoreJob` to the scorer, one call per head-set arm, plus the
                 shadow candidate's.
3. `decide`    — known-bad matches, fusion and the policy of the ad's rollout arm, the shadow
                 arms' decisions; later, an `always` diagnosis merged into the decision.
4. `summarise` — what the LLM diagnosis will be (the summary plan), and the diagnosis itself,
                 now (`summary: always`) or after the decision is stored (`auto`).
5. `record`    — the response, metrics and the decision log line, the store write (a conflict
                 when another request took the id), and the pending diagnosis started.

`serving.pipeline.ReviewPipeline` runs them in that order. Nothing here imports Ray: the model
replicas are plain async callables handed to the pipeline.
"""
