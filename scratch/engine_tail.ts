  private async batchMovers(batch: BatchRecord): Promise<BatchMover[]> {
    const id = `${batch.migrationId}/${batch.id}`;
    let users = this.movers.get(id);
    if (!users) this.movers.set(id, (users = await this.store.movers(batch.migrationId, batch.id)));
    return users;
  }

  private copiedRows(batch: BatchRecord): CopiedRows {
    const id = `${batch.migrationId}/${batch.id}`;
    let rows = this.copied.get(id);
    if (!rows) this.copied.set(id, (rows = { rows: new Map(), complete: false }));
    return rows;
  }

  private async context(batch: BatchRecord): Promise<BatchContext> {
    const migration = await this.store.get(batch.migrationId);
    const state = migration?.state;
    return {
      policy: migration?.policy ?? { name: this.host.policy.name, version: this.host.policy.version },
      copied: this.copiedRows(batch),
      batch, users: await this.batchMovers(batch), source: this.region(batch.source), destination: this.region(batch.destination),
      directory: this.host.directory, store: this.store, limiter: this.limiter, meter: this.meter, fault: this.options.fault ?? envFault,
      // An operator's command, through this gateway or another, changes the state.
      stopRequested: async () => this.closing || !this.leading || (await this.store.get(batch.migrationId))?.state !== state,
    };
  }

  /** What would move now, or between two policies; refuses destinations that are not active. */
  plan(request: { services?: string[] | undefined; from?: Policy | undefined; to?: Policy | undefined } = {}): Promise<MigrationPlan> {
    return planMigration({ directory: this.host.directory, regions: this.host.regions, policy: request.to ?? this.host.policy, from: request.from, services: request.services });
  }

  async start(request: StartRequest = {}): Promise<MigrationStatus> {
    const settings = applySettings(request);
    await this.refuseUnfinished(await this.store.latest());
    const { policy } = this.host;
    const services = resolveServiceOrder(policy, request.services);
    const plan = await this.plan({ services });
    checkPlanRegions(plan, policy, new Set(this.host.regions.keys()));
    const movers = await listMovingUsers(this.host.directory, policy, services);
    if (movers.length === 0) {
      throw new DomicileError('CONFLICT', `nothing to move: every user's ${services.join(', ')} data is homed where policy "${policy.name}" (version ${policy.version}) places it`);
    }
    const id = newId('m', 8);
    // The store refuses it if another migration was started meanwhile (through another gateway, say).
    const unfinished = await this.store.createMigration({ id, policy: { name: policy.name, version: policy.version }, services, settings, plan }, movers);
    await this.refuseUnfinished(unfinished);
    this.log(`migration ${id}: ${movers.length} user-services to move under policy "${policy.name}" (${services.join(' → ')})`);
    this.kick();
    return (await this.status(id))!;
  }

  private refuseUnfinished(current: MigrationRecord | undefined): Promise<void> {
    if (current && !finalStates.includes(current.state)) {
      throw new DomicileError('CONFLICT', `migration ${current.id} is ${current.state}: finish it first (\`domicile migrate complete\` or \`domicile migrate rollback\`)`);
    }
    return Promise.resolve();
  }

  async status(id?: string): Promise<MigrationStatus | undefined> {
    const m = id === undefined || id === 'current' ? await this.store.latest() : await this.store.get(id);
    if (!m) return undefined;
    return buildStatus(m, await this.store.batches(m.id), {
      totalUsers: await this.store.moverCount(m.id),
      transfers: await this.store.transferCount(m.id),
      rates: this.meter.rates(),
      lag: { catchUp: m.state === 'running' ? this.meter.catchUpLag : 0, reverse: this.meter.reverseLag },
      warnings: [
        ...(this.meter.reverseError === null ? [] : [`${this.meter.reverseError}; a rollback now would be refused until it works again`]),
        ...(m.policy.name === this.host.policy.name && m.policy.version === this.host.policy.version ? []
          : [`it was planned under policy "${m.policy.name}" (version ${m.policy.version}), but the platform now runs "${this.host.policy.name}" (version ${this.host.policy.version}): its destinations may no longer be allowed`]),
        ...(this.store.shared && !this.leading && workingStates.includes(m.state) ? ['another gateway leads the migration: the rates and lags shown are this gateway\'s, which moves nothing'] : []),
      ],
    });
  }

  transfers(migrationId?: string): Promise<TransferRecord[]> {
    return this.store.transfers(migrationId);
  }

  private async requireLatest(): Promise<MigrationRecord> {
    const m = await this.store.latest();
    if (!m) throw new DomicileError('NOT_FOUND', 'no migration has been started: plan one with `domicile plan`, start it with `domicile migrate start`');
    return m;
  }

  /** Moves the migration from one of `from` to `to`, unless it changed meanwhile (then CONFLICT, naming its state now). */
  private async transition(m: MigrationRecord, from: readonly MigrationState[], to: MigrationState, verb: string, hint: string): Promise<MigrationStatus> {
    if (!from.includes(m.state)) throw new DomicileError('CONFLICT', `cannot ${verb} migration ${m.id}: it is ${m.state}; ${hint}`);
    // An operator's command supersedes the failure it answers.
    if (!(await this.store.setState(m.id, to, { from: [m.state], resumeState: null, error: null }))) {
      const now = await this.store.get(m.id);
      throw new DomicileError('CONFLICT', `cannot ${verb} migration ${m.id}: it has just become ${now?.state ?? 'unknown'}; look at \`domicile migrate status\` and try again`);
    }
    this.log(`migration ${m.id}: ${m.state} → ${to}`);
    this.kick();
    return (await this.status(m.id))!;
  }

  async pause(): Promise<MigrationStatus> {
    return this.transition(await this.requireLatest(), ['running'], 'paused', 'pause', 'only a running migration pauses');
  }

  async resume(): Promise<MigrationStatus> {
    const m = await this.requireLatest();
    const to: MigrationState = m.state === 'paused' ? 'running' : m.resumeState ?? 'running';
    return this.transition(m, ['paused', 'interrupted', 'failed'], to, 'resume', 'resume goes on after pause, an interruption or a failure');
  }

  /**
   * Purges the sources. Once every batch is cut over, also from a failure or an interruption
   * (a roll-back the source refused, say): the destinations serve everyone, so completing is
   * always a way forward.
   */
  async complete(): Promise<MigrationStatus> {
    const m = await this.requireLatest();
    const allCutOver = (await this.store.unassigned(m.id)) === 0 && (await this.store.batches(m.id)).every((b) => b.step === 'cut-over' || b.step === 'completing' || b.step === 'completed');
    const from: MigrationState[] = allCutOver ? ['cut-over', 'failed', 'interrupted'] : ['cut-over'];
    return this.transition(m, from, 'completing', 'complete', 'complete purges the sources once every batch is cut over (state cut-over)');
  }

  async rollback(): Promise<MigrationStatus> {
    const m = await this.requireLatest();
    if (m.state === 'failed' && m.resumeState === 'completing') {
      throw new DomicileError('CONFLICT', `cannot roll back migration ${m.id}: it failed while completing, and completed batches' sources are purged; \`domicile migrate resume\` to finish completing it`);
    }
    return this.transition(m, ['running', 'paused', 'interrupted', 'cut-over', 'failed'], 'rolling-back', 'roll back', 'a migration that completes has purged its sources, and one rolled back is done');
  }

  async updateSettings(patch: SettingsPatch): Promise<MigrationStatus> {
    const m = await this.requireLatest();
    if (finalStates.includes(m.state)) throw new DomicileError('CONFLICT', `migration ${m.id} is ${m.state}: its settings no longer matter`);
    await this.store.setSettings(m.id, applySettings(patch, m.settings));
    this.kick();
    return (await this.status(m.id))!;
  }

  /** Resolves once the migration rests (nothing to do on its own) or reaches one of `states`. */
  async waitFor(states: readonly MigrationState[] = ['cut-over', 'paused', 'interrupted', 'failed', 'completed', 'rolled-back'], timeoutMs = 600_000): Promise<MigrationStatus | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.store.latest();
      if (!m || states.includes(m.state) || (this.leading && !this.loop && !workingStates.includes(m.state))) return this.status();
      if (Date.now() > deadline) throw new DomicileError('UNAVAILABLE', `migration ${m.id} is still ${m.state} after ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  /** Stops the loop after its current step; the state stays as the step left it, and the lead is let go. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.leadTimer);
    this.wake?.();
    await this.loop;
    await this.store.close();
  }

  private kick(): void {
    this.wake?.();
    if (this.loop || this.closing || !this.leading) return;
    this.loop = this.run().finally(() => {
      this.loop = undefined;
    });
  }

  private async run(): Promise<void> {
    while (!this.closing && this.leading) {
      let busy = false;
      let m: MigrationRecord | undefined;
      try {
        m = await this.store.latest();
        if (!m || !['running', 'completing', 'rolling-back', 'paused', 'cut-over'].includes(m.state)) return;
        const reverseDue = performance.now() - this.lastReverse > (this.options.reverseIntervalMs ?? 100);
        if (m.state === 'running' || m.state === 'paused' || m.state === 'cut-over') {
          if (reverseDue || m.state !== 'running') {
            this.lastReverse = performance.now();
            await reversePass(this.steps, m);
          }
        }
        if (m.state === 'running') busy = await forwardStep(this.steps, m);
        else if (m.state === 'completing') busy = await completeStep(this.steps, m);
        else if (m.state === 'rolling-back') busy = await rollbackStep(this.steps, m);
      } catch (err) {
        const error = err instanceof DomicileError ? err : new DomicileError('INTERNAL', (err as Error).message, { cause: err });
        if (m) await this.fail(m, { ok: false, error }).catch((e: unknown) => this.log(`migration ${m!.id}: cannot record its failure: ${(e as Error).message}`));
        else this.log(`the migration coordinator cannot read its state: ${error.message}`);
      }
      if (busy) await yieldToEventLoop();
      if (!busy && !this.closing) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.options.reverseIntervalMs ?? 100);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
    }
  }

  /** Records a step's failure, unless an operator changed the migration's state meanwhile (their command stands). */
  private async fail(m: MigrationRecord, result: PhaseResult<unknown>): Promise<void> {
    if (result.ok) return;
    this.log(`migration ${m.id} failed: ${result.error.message}`);
    await this.store.setState(m.id, 'failed', { from: [m.state], resumeState: m.state, error: result.error.message });
  }
}
