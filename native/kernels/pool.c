// A persistent pool of worker threads. One job at a time: the caller publishes (fn, ctx), bumps a
// generation counter and runs its own share as worker 0; idle workers spin on the counter for
// spin_ns (so back-to-back calls wake them in well under a microsecond), then sleep on a condition
// variable. Nothing is allocated and no thread is created per job.
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

typedef struct {
  kpool *pool;
  int id;
} wslot;

struct kpool {
  int n;
  long spin_ns;
  pthread_t *threads;
  wslot *slots;
  task_fn fn;
  void *ctx;
  _Atomic unsigned gen;
  _Atomic int pending;
  _Atomic int sleepers;
  _Atomic int stop;
  _Atomic int bar_count;
  _Atomic unsigned bar_gen;
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

static long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void *worker_main(void *arg) {
  wslot *s = arg;
  kpool *p = s->pool;
  unsigned seen = 0;  // gen starts at 0; a job published before this thread ran is still seen
  for (;;) {
    unsigned g = atomic_load(&p->gen);
    if (g == seen) {
      const long deadline = now_ns() + p->spin_ns;
      for (int i = 1;; i++) {
        g = atomic_load(&p->gen);
        if (g != seen || atomic_load(&p->stop)) break;
        cpu_relax();
        if ((i & 255) == 0 && now_ns() > deadline) {
          pthread_mutex_lock(&p->mu);
          atomic_fetch_add(&p->sleepers, 1);
          while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
          atomic_fetch_sub(&p->sleepers, 1);
          pthread_mutex_unlock(&p->mu);
          break;
        }
      }
    }
    if (atomic_load(&p->stop)) return NULL;
    seen = g;
    p->fn(p->ctx, s->id, p->n);
    atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
  }
}

kpool *pool_create(int n, long spin_ns) {
  if (n < 1) n = 1;
  kpool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->n = n;
  p->spin_ns = spin_ns < 0 ? 0 : spin_ns;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->threads = calloc((size_t)n, sizeof *p->threads);
  p->slots = calloc((size_t)n, sizeof *p->slots);
  if (!p->threads || !p->slots) {
    free(p->threads);
    free(p->slots);
    free(p);
    return NULL;
  }
  for (int i = 1; i < n; i++) {
    p->slots[i].pool = p;
    p->slots[i].id = i;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 20);
    if (pthread_create(&p->threads[i], &attr, worker_main, &p->slots[i]) != 0) {
      pthread_attr_destroy(&attr);
      p->n = i;  // run with the threads we have; destroy joins exactly these
      break;
    }
    pthread_attr_destroy(&attr);
  }
  return p;
}

void pool_destroy(kpool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->stop, 1);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p->threads);
  free(p->slots);
  free(p);
}

int pool_size(const kpool *p) { return p->n; }

void pool_run(kpool *p, task_fn fn, void *ctx) {
  if (p->n == 1) {
    fn(ctx, 0, 1);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  atomic_store(&p->pending, p->n - 1);
  atomic_fetch_add(&p->gen, 1);  // seq_cst: ordered before the read of sleepers below
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  fn(ctx, 0, p->n);
  for (long i = 1; atomic_load_explicit(&p->pending, memory_order_acquire) != 0; i++) {
    cpu_relax();
    if ((i & 4095) == 0) sched_yield();  // a worker lost its core: let it run
  }
}

void pool_barrier(kpool *p) {
  if (p->n == 1) return;
  const unsigned g = atomic_load(&p->bar_gen);
  if (atomic_fetch_add(&p->bar_count, 1) == p->n - 1) {
    atomic_store(&p->bar_count, 0);
    atomic_fetch_add(&p->bar_gen, 1);
    return;
  }
  for (long i = 1; atomic_load(&p->bar_gen) == g; i++) {
    cpu_relax();
    if ((i & 4095) == 0) sched_yield();
  }
}
