// Plexus generation loop: runs a whole generation (decode -> sample -> detokenize) on a thread of
// its own and hands the text to JavaScript in batches through a thread-safe function. With
// node-llama-cpp every token costs two asynchronous native calls (decode, then sample), each a
// hand-over to libuv's pool and back; here the loop never waits for JavaScript.
//
// It links against the llama.cpp shared libraries node-llama-cpp itself loads (same files, same
// release), so one llama.cpp lives in the process. It opens its own llama_model (memory-mapped: the
// weights' pages are shared with node-llama-cpp's handle of the same file) and one llama_context
// per Context object, holding one sequence.
//
// The sampler chain and the detokenising rules mirror node-llama-cpp 3.x (AddonSampler.cpp,
// LlamaModel.detokenize) and the engine (src/inference/engine.ts), so that the same request gives
// the same tokens and text on both paths.

#include <napi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"
#include "llama.h"

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// ---------------------------------------------------------------------------------------------
// Text

std::string detokenize(const llama_vocab* vocab, const std::vector<llama_token>& tokens) {
  if (tokens.empty()) return "";
  std::string out;
  out.resize(std::max<size_t>(tokens.size() * 8, 16));
  int32_t n = llama_detokenize(vocab, tokens.data(), (int32_t)tokens.size(), &out[0], (int32_t)out.size(), false, false);
  if (n < 0) {
    out.resize(-n);
    n = llama_detokenize(vocab, tokens.data(), (int32_t)tokens.size(), &out[0], (int32_t)out.size(), false, false);
  }
  out.resize(std::max(n, 0));
  return out;
}

// node-llama-cpp's LlamaModel.detokenize(tokens, false, lastTokens): the text of `tokens` as it
// reads after `last` (so that a leading space is kept), falling back to the tokens alone.
std::string detokenizeAfter(const llama_vocab* vocab, const std::vector<llama_token>& tokens, const std::vector<llama_token>& last) {
  if (tokens.empty()) return "";
  if (last.empty()) return detokenize(vocab, tokens);
  const std::string lastText = detokenize(vocab, last);
  if (lastText.empty()) return detokenize(vocab, tokens);
  std::vector<llama_token> both(last);
  both.insert(both.end(), tokens.begin(), tokens.end());
  const std::string text = detokenize(vocab, both);
  if (text.compare(0, lastText.size(), lastText) == 0) return text.substr(lastText.size());
  return detokenize(vocab, tokens);
}

// Whether V8 decodes these UTF-8 bytes into a string ending in U+FFFD: a literal U+FFFD, or an
// ill-formed or incomplete sequence at the end (each maximal ill-formed subpart becomes one U+FFFD).
bool endsWithReplacement(const std::string& s) {
  bool last = false;
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const unsigned char b = (unsigned char)s[i];
    if (b < 0x80) { last = false; i++; continue; }
    int need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    uint32_t cp = 0;
    if (b >= 0xC2 && b <= 0xDF) { need = 1; cp = b & 0x1F; }
    else if (b >= 0xE0 && b <= 0xEF) { need = 2; cp = b & 0x0F; if (b == 0xE0) lo = 0xA0; if (b == 0xED) hi = 0x9F; }
    else if (b >= 0xF0 && b <= 0xF4) { need = 3; cp = b & 0x07; if (b == 0xF0) lo = 0x90; if (b == 0xF4) hi = 0x8F; }
    else { last = true; i++; continue; }
    size_t j = i + 1;
    int got = 0;
    bool bad = false;
    while (got < need) {
      if (j >= n) { bad = true; break; }
      const unsigned char c = (unsigned char)s[j];
      const unsigned char l = got == 0 ? lo : 0x80, h = got == 0 ? hi : 0xBF;
      if (c < l || c > h) { bad = true; break; }
      cp = (cp << 6) | (c & 0x3F);
      got++;
      j++;
    }
    last = bad || cp == 0xFFFD;
    i = j;
  }
  return last;
}

// ---------------------------------------------------------------------------------------------
// Model

class Model : public Napi::ObjectWrap<Model> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Model", {
      InstanceMethod("dispose", &Model::Dispose),
    });
  }

  explicit Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {
    // Created by loadModel() with the loaded llama_model as an External.
    model = info[0].As<Napi::External<llama_model>>().Data();
    vocab = llama_model_get_vocab(model);
  }

  ~Model() override { free(); }

  void free() {
    if (model != nullptr) {
      llama_model_free(model);
      model = nullptr;
      vocab = nullptr;
    }
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (contexts > 0) throw Napi::Error::New(info.Env(), "the model still has contexts");
    free();
    return info.Env().Undefined();
  }

  llama_model* model = nullptr;
  const llama_vocab* vocab = nullptr;
  int contexts = 0;
  static Napi::FunctionReference* constructor;
};

Napi::FunctionReference* Model::constructor = nullptr;

class LoadModelWorker : public Napi::AsyncWorker {
 public:
  LoadModelWorker(Napi::Env env, std::string path)
      : Napi::AsyncWorker(env), deferred(Napi::Promise::Deferred::New(env)), path(std::move(path)) {}

  void Execute() override {
    auto params = llama_model_default_params();
    params.n_gpu_layers = 0;
    params.load_mode = LLAMA_LOAD_MODE_MMAP;
    params.lazy_mode = LLAMA_LAZY_MODE_OFF;
    model = llama_model_load_from_file(path.c_str(), params);
    if (model == nullptr) SetError("llama.cpp could not load " + path);
  }

  void OnOK() override {
    Napi::Object obj = Model::constructor->New({Napi::External<llama_model>::New(Env(), model)});
    deferred.Resolve(obj);
  }

  void OnError(const Napi::Error& e) override { deferred.Reject(e.Value()); }

  Napi::Promise::Deferred deferred;

 private:
  std::string path;
  llama_model* model = nullptr;
};

Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU) == nullptr) {
    throw Napi::Error::New(env, "llama.cpp's CPU backend is not loaded (load node-llama-cpp first)");
  }
  auto* worker = new LoadModelWorker(env, info[0].As<Napi::String>().Utf8Value());
  Napi::Promise promise = worker->deferred.Promise();
  worker->Queue();
  return promise;
}

// ---------------------------------------------------------------------------------------------
// Generation

struct Piece {
  std::vector<llama_token> tokens;
  std::string text;
};

struct Sampling {
  float temperature = 0;
  int32_t topK = 40;
  float topP = 0.95f;
  float minP = 0;
  uint32_t seed = 0;
  bool penalties = false;
  float repeatPenalty = 1;
  float presencePenalty = 0;
  float frequencyPenalty = 0;
  int32_t penaltyWindow = 64;
};

// What the loop thread shares with the main thread while a generation runs.
struct Run {
  std::mutex mutex;
  std::vector<Piece> pieces;
  bool notified = false;
  bool done = false;
  bool doneDelivered = false;  // main thread only
  std::string reason;  // "eog", "length", "aborted", "error"
  std::string error;
  Piece rest;  // tokens still waiting for the rest of a UTF-8 character at the end
  uint32_t completionTokens = 0;
  uint32_t reusedTokens = 0;
  double firstTokenMs = 0;
  double decodeMs = 0;
  Napi::ThreadSafeFunction tsfn;
};

class Context;

struct Job {
  Context* owner;
  std::shared_ptr<Run> run;
  std::vector<llama_token> prompt;
  uint32_t maxTokens;
  // Text is handed over at most this often (the first piece at once): fewer wake-ups of the
  // event loop and fewer socket writes per token on a fast model. 0 = every piece at once.
  int64_t flushMicros = 0;
  Sampling sampling;
};

class Context : public Napi::ObjectWrap<Context> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Context", {
      InstanceMethod("generate", &Context::Generate),
      InstanceMethod("abort", &Context::Abort),
      InstanceMethod("dispose", &Context::Dispose),
    });
  }

  // new Context(model, { contextSize, threads, batchSize })
  explicit Context(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Context>(info) {
    Napi::Env env = info.Env();
    Model* m = Model::Unwrap(info[0].As<Napi::Object>());
    if (m->model == nullptr) throw Napi::Error::New(env, "the model is disposed");
    Napi::Object opts = info[1].As<Napi::Object>();
    const uint32_t contextSize = opts.Get("contextSize").As<Napi::Number>().Uint32Value();
    const int32_t threads = std::max(1, opts.Get("threads").As<Napi::Number>().Int32Value());
    const uint32_t batchSize = std::max(1u, std::min(contextSize, opts.Get("batchSize").As<Napi::Number>().Uint32Value()));

    auto params = llama_context_default_params();
    params.n_ctx = contextSize;
    params.n_batch = batchSize;
    params.n_ubatch = batchSize;
    params.n_seq_max = 1;
    params.n_threads = threads;
    params.n_threads_batch = threads;
    params.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_AUTO;  // node-llama-cpp 3.x default ("auto")
    params.no_perf = true;
    params.swa_full = false;
    params.kv_unified = false;
    ctx = llama_init_from_model(m->model, params);
    if (ctx == nullptr) throw Napi::Error::New(env, "llama.cpp could not create a context");

    // A persistent thread pool, as llama-bench uses: without one, a llama.cpp built without
    // OpenMP (the prebuilt binary) starts and joins new threads for every token.
    if (threads > 1) {
      ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
      ggml_backend_reg_t reg = cpu != nullptr ? ggml_backend_dev_backend_reg(cpu) : nullptr;
      if (reg != nullptr) {
        threadpoolNew = (decltype(ggml_threadpool_new)*)ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new");
        threadpoolFree = (decltype(ggml_threadpool_free)*)ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free");
      }
      if (threadpoolNew != nullptr && threadpoolFree != nullptr) {
        ggml_threadpool_params tpp = ggml_threadpool_params_default(threads);
        threadpool = threadpoolNew(&tpp);
        if (threadpool != nullptr) llama_attach_threadpool(ctx, threadpool, nullptr);
      }
    }

    model = m;
    modelRef = Napi::Persistent(info[0].As<Napi::Object>());
    m->contexts++;
    nCtx = llama_n_ctx(ctx);
    nBatch = batchSize;
    batch = llama_batch_init((int32_t)nBatch, 0, 1);
  }

  ~Context() override { free(); }

  void join() {
    if (worker.joinable()) worker.join();
  }

  void free() {
    abortFlag.store(true);
    join();
    if (ctx != nullptr) {
      llama_batch_free(batch);
      llama_free(ctx);
      ctx = nullptr;
      if (threadpool != nullptr) threadpoolFree(threadpool);
      threadpool = nullptr;
      model->contexts--;
      modelRef.Reset();
    }
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    free();
    return info.Env().Undefined();
  }

  Napi::Value Abort(const Napi::CallbackInfo& info) {
    abortFlag.store(true);
    return info.Env().Undefined();
  }

  // generate(promptTokens: Uint32Array, options, onBatch(pieces, done))
  Napi::Value Generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (ctx == nullptr) throw Napi::Error::New(env, "the context is disposed");
    if (busy) throw Napi::Error::New(env, "the context is already generating");
    join();  // the previous run's thread has delivered its last batch; it is only returning
    Napi::Uint32Array prompt = info[0].As<Napi::Uint32Array>();
    Napi::Object o = info[1].As<Napi::Object>();
    auto num = [&](const char* key, double fallback) {
      Napi::Value v = o.Get(key);
      return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
    };
    auto job = std::make_unique<Job>();
    job->owner = this;
    job->prompt.assign(prompt.Data(), prompt.Data() + prompt.ElementLength());
    if (job->prompt.empty() || job->prompt.size() >= nCtx) throw Napi::RangeError::New(env, "the prompt must have 1 to contextSize - 1 tokens");
    const int32_t nVocab = llama_vocab_n_tokens(model->vocab);
    for (llama_token t : job->prompt) {
      if (t < 0 || t >= nVocab) throw Napi::RangeError::New(env, "a prompt token is outside the vocabulary");
    }
    job->maxTokens = (uint32_t)std::max(1.0, num("maxTokens", 1));
    job->flushMicros = (int64_t)std::max(0.0, num("flushMicros", 0));
    Sampling& s = job->sampling;
    s.temperature = (float)num("temperature", 0);
    s.topK = (int32_t)num("topK", 40);
    s.topP = (float)num("topP", 0.95);
    s.minP = (float)num("minP", 0);
    s.seed = (uint32_t)num("seed", 0);
    s.repeatPenalty = (float)num("repeatPenalty", 1);
    s.presencePenalty = (float)num("presencePenalty", 0);
    s.frequencyPenalty = (float)num("frequencyPenalty", 0);
    s.penaltyWindow = (int32_t)num("penaltyWindow", 64);
    s.penalties = s.penaltyWindow > 0 && (s.repeatPenalty != 1.0f || s.presencePenalty != 0.0f || s.frequencyPenalty != 0.0f);

    job->run = std::make_shared<Run>();
    std::shared_ptr<Run> run = job->run;
    Context* self = this;
    run->tsfn = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "plexus-generation-loop", 0, 1,
      [self, run](Napi::Env) { /* finalizer: the thread released the function */ (void)self; (void)run; });
    busy = true;
    abortFlag.store(false);
    Ref();  // keep this object alive while the thread runs
    Job* raw = job.release();
    worker = std::thread([raw]() { std::unique_ptr<Job> j(raw); j->owner->loop(*j); });
    return env.Undefined();
  }

  // Runs on the main thread through the thread-safe function.
  static void deliver(Napi::Env env, Napi::Function callback, Context* self, Run* run) {
    if (run->doneDelivered) return;  // a call queued before the last one found everything gone
    std::vector<Piece> pieces;
    bool done;
    {
      std::lock_guard<std::mutex> lock(run->mutex);
      pieces.swap(run->pieces);
      run->notified = false;
      done = run->done;
    }
    if (pieces.empty() && !done) return;
    Napi::Array arr = Napi::Array::New(env, pieces.size());
    for (size_t i = 0; i < pieces.size(); i++) {
      Napi::Array pair = Napi::Array::New(env, 2);
      Napi::Array ids = Napi::Array::New(env, pieces[i].tokens.size());
      for (size_t k = 0; k < pieces[i].tokens.size(); k++) ids.Set((uint32_t)k, Napi::Number::New(env, pieces[i].tokens[k]));
      pair.Set(0u, ids);
      pair.Set(1u, Napi::String::New(env, pieces[i].text));
      arr.Set((uint32_t)i, pair);
    }
    Napi::Value doneValue = env.Null();
    if (done) {
      Napi::Object d = Napi::Object::New(env);
      d.Set("reason", run->reason);
      if (!run->error.empty()) d.Set("error", run->error);
      Napi::Array ids = Napi::Array::New(env, run->rest.tokens.size());
      for (size_t k = 0; k < run->rest.tokens.size(); k++) ids.Set((uint32_t)k, Napi::Number::New(env, run->rest.tokens[k]));
      d.Set("restTokens", ids);
      d.Set("restText", run->rest.text);
      d.Set("completionTokens", run->completionTokens);
      d.Set("reusedTokens", run->reusedTokens);
      d.Set("firstTokenMs", run->firstTokenMs);
      d.Set("decodeMs", run->decodeMs);
      doneValue = d;
      run->doneDelivered = true;
      self->busy = false;
      self->Unref();
    }
    callback.Call({arr, doneValue});
  }

 private:
  void push(Run& run, Piece&& piece, int64_t flushMicros) {
    const Clock::time_point now = Clock::now();
    const bool due = lastFlush == Clock::time_point{} || flushMicros <= 0 ||
      std::chrono::duration_cast<std::chrono::microseconds>(now - lastFlush).count() >= flushMicros;
    bool notify = false;
    {
      std::lock_guard<std::mutex> lock(run.mutex);
      run.pieces.push_back(std::move(piece));
      if (due && !run.notified) { run.notified = true; notify = true; }
    }
    if (notify) {
      lastFlush = now;
      notifyMain(run);
    }
  }

  void notifyMain(Run& run) {
    Context* self = this;
    Run* r = &run;
    run.tsfn.BlockingCall([self, r](Napi::Env env, Napi::Function cb) { deliver(env, cb, self, r); });
  }

  bool decodeTokens(const llama_token* tokens, size_t n, size_t pos0) {
    for (size_t off = 0; off < n; off += nBatch) {
      if (off > 0 && abortFlag.load()) return false;
      const size_t count = std::min<size_t>(nBatch, n - off);
      batch.n_tokens = (int32_t)count;
      for (size_t i = 0; i < count; i++) {
        batch.token[i] = tokens[off + i];
        batch.pos[i] = (llama_pos)(pos0 + off + i);
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = (off + i == n - 1) ? 1 : 0;
      }
      if (llama_decode(ctx, batch) != 0) return false;
    }
    return true;
  }

  llama_sampler* buildChain(const Sampling& s, llama_sampler** penalties) {
    // node-llama-cpp's chain (AddonSampler::rebuildChainIfNeeded), min_keep 1.
    llama_sampler* chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
    const int32_t nVocab = llama_vocab_n_tokens(model->vocab);
    *penalties = nullptr;
    if (s.penalties) {
      *penalties = llama_sampler_init_penalties(nVocab, s.penaltyWindow, s.repeatPenalty, s.frequencyPenalty, s.presencePenalty);
      llama_sampler_chain_add(chain, *penalties);
    }
    if (s.temperature <= 0.0f) {
      llama_sampler_chain_add(chain, llama_sampler_init_greedy());
    } else {
      llama_sampler_chain_add(chain, llama_sampler_init_top_k(s.topK <= 0 ? nVocab : std::min(s.topK, nVocab)));
      // node-llama-cpp starts from top_p = 1 and only creates the sampler when that changes.
      if (s.topP != 1.0f && s.topP >= 0.0f && s.topP <= 1.0f) llama_sampler_chain_add(chain, llama_sampler_init_top_p(s.topP, 1));
      if (s.minP > 0.0f) llama_sampler_chain_add(chain, llama_sampler_init_min_p(s.minP, 1));
      llama_sampler_chain_add(chain, llama_sampler_init_temp(s.temperature));
      llama_sampler_chain_add(chain, llama_sampler_init_dist(s.seed));
    }
    return chain;
  }

  void finish(Run& run, const char* reason, const std::string& error) {
    {
      std::lock_guard<std::mutex> lock(run.mutex);
      run.done = true;
      run.reason = reason;
      run.error = error;
    }
    notifyMain(run);
    run.tsfn.Release();
  }

  void loop(Job& job) {
    Run& run = *job.run;
    const llama_vocab* vocab = model->vocab;
    const Clock::time_point started = Clock::now();
    // Keep the longest cached prefix (chat turns share their history); evaluate at least one token.
    size_t common = 0;
    const size_t limit = std::min(cached.size(), job.prompt.size() - 1);
    while (common < limit && cached[common] == job.prompt[common]) common++;
    if (common < cached.size()) {
      if (!llama_memory_seq_rm(llama_get_memory(ctx), 0, (llama_pos)common, -1)) {
        llama_memory_clear(llama_get_memory(ctx), true);
        common = 0;
      }
      cached.resize(common);
    }
    run.reusedTokens = (uint32_t)common;
    lastFlush = Clock::time_point{};
    if (!decodeTokens(job.prompt.data() + common, job.prompt.size() - common, common)) {
      llama_memory_clear(llama_get_memory(ctx), true);
      cached.clear();
      if (abortFlag.load()) return finish(run, "aborted", "");
      return finish(run, "error", "llama_decode failed on the prompt");
    }
    cached.insert(cached.end(), job.prompt.begin() + common, job.prompt.end());

    llama_sampler* penalties = nullptr;
    llama_sampler* chain = buildChain(job.sampling, &penalties);
    const int32_t nVocab = llama_vocab_n_tokens(vocab);
    std::vector<llama_token_data> candidates((size_t)nVocab);
    std::vector<llama_token> generated;
    std::vector<llama_token> pending;
    generated.reserve(job.maxTokens);
    Clock::time_point firstAt{}, lastAt{};
    const char* reason = "length";
    std::string error;
    while (true) {
      const float* logits = llama_get_logits_ith(ctx, -1);
      if (logits == nullptr) { reason = "error"; error = "no logits"; break; }
      for (llama_token t = 0; t < nVocab; t++) candidates[(size_t)t] = llama_token_data{t, logits[t], 0.0f};
      llama_token_data_array arr{candidates.data(), (size_t)nVocab, -1, false};
      llama_sampler_apply(chain, &arr);
      if (arr.selected < 0 || arr.selected >= (int64_t)arr.size) { reason = "error"; error = "the sampler selected nothing"; break; }
      const llama_token token = arr.data[arr.selected].id;
      if (penalties != nullptr) llama_sampler_accept(penalties, token);
      if (abortFlag.load()) { reason = "aborted"; break; }
      lastAt = Clock::now();
      if (generated.empty()) firstAt = lastAt;
      if (llama_vocab_is_eog(vocab, token)) { reason = "eog"; break; }
      generated.push_back(token);
      pending.push_back(token);
      // As the engine does: the pending tokens' text after up to 4 tokens before them, held back
      // while it ends inside a UTF-8 character.
      const size_t before = generated.size() - pending.size();
      const std::vector<llama_token> last(generated.begin() + (long)(before >= 4 ? before - 4 : 0), generated.begin() + (long)before);
      std::string piece = detokenizeAfter(vocab, pending, last);
      if (!endsWithReplacement(piece)) {
        push(run, Piece{std::move(pending), std::move(piece)}, job.flushMicros);
        pending.clear();
      }
      if (generated.size() >= job.maxTokens) break;
      if (abortFlag.load()) { reason = "aborted"; break; }
      if (!decodeTokens(&token, 1, cached.size())) {
        if (abortFlag.load()) { reason = "aborted"; break; }
        reason = "error";
        error = "llama_decode failed";
        break;
      }
      cached.push_back(token);
    }
    llama_sampler_free(chain);
    if (std::string(reason) == "error") {
      llama_memory_clear(llama_get_memory(ctx), true);
      cached.clear();
    }
    run.completionTokens = (uint32_t)generated.size();
    if (!generated.empty()) {
      run.firstTokenMs = msSince(started, firstAt);
      run.decodeMs = msSince(firstAt, lastAt);
    }
    if (!pending.empty()) run.rest = Piece{pending, detokenize(vocab, pending)};
    finish(run, reason, error);
  }

  Model* model = nullptr;
  Napi::ObjectReference modelRef;
  llama_context* ctx = nullptr;
  llama_batch batch{};
  uint32_t nCtx = 0;
  uint32_t nBatch = 1;
  ggml_threadpool* threadpool = nullptr;
  decltype(ggml_threadpool_new)* threadpoolNew = nullptr;
  decltype(ggml_threadpool_free)* threadpoolFree = nullptr;
  std::vector<llama_token> cached;  // tokens in the KV cache, in order
  Clock::time_point lastFlush{};  // loop thread only
  std::thread worker;
  std::atomic<bool> abortFlag{false};
  bool busy = false;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Function model = Model::Init(env);
  Model::constructor = new Napi::FunctionReference(Napi::Persistent(model));
  exports.Set("Model", model);
  exports.Set("Context", Context::Init(env));
  exports.Set("loadModel", Napi::Function::New(env, LoadModel));
  return exports;
}

}  // namespace

NODE_API_MODULE(plexus_generation_loop, Init)
