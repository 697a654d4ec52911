// A persistent pool of worker threads. One job at a time: the caller publishes (fn, ctx), bumps a
// generation counter and runs its own share as worker 0; idle workers spin on the counter for
// spin_ns (so back-to-back calls wake them in well under a microsecond), then sleep on a condition
// variable. Nothing is allocated and no thread is created per job.
//
// A worker joins a job only by claiming its offer (offer[i]: g·4 = offered, g·4+1 = started,
// g·4+2 = withdrawn). When the caller has finished (tasks hand out their rows dynamically, so the caller
// takes what nobody started), it withdraws the offers nobody claimed and returns without waiting for
// workers that never got a core — on a busy machine that wait would be a scheduler time slice.
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "kernels.h"


typedef struct {
  kpool *pool;
  int id;
  _Atomic unsigned offer;
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
    unsigned offered = g * 4u;
    if (!atomic_compare_exchange_strong(&s->offer, &offered, g * 4u + 1u)) continue;  // withdrawn: not ours
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
  const unsigned g = atomic_load(&p->gen) + 1u;
  for (int i = 1; i < p->n; i++) atomic_store(&p->slots[i].offer, g * 4u);
  atomic_store(&p->gen, g);  // seq_cst: ordered before the read of sleepers below
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  fn(ctx, 0, p->n);
  for (int i = 1; i < p->n; i++) {
    unsigned offered = g * 4u;
    if (atomic_compare_exchange_strong(&p->slots[i].offer, &offered, g * 4u + 2u)) atomic_fetch_sub(&p->pending, 1);
  }
  for (long i = 1; atomic_load_explicit(&p->pending, memory_order_acquire) != 0; i++) {
    cpu_relax();
    if ((i & 4095) == 0) sched_yield();  // a worker lost its core: let it run
  }
}

