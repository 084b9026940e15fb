import { ITranslator, nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import {
  checkIcon,
  downloadIcon,
  historyIcon,
  listIcon,
  ReactWidget,
  refreshIcon,
  UseSignal
} from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { ReproModel } from '../model';
import { cellLabel as labelOf } from '../cells';
import { ICellDiff, IReproState, SIDEBAR_ID } from '../tokens';
import { runNumbers } from '../verdict';
import { reproIcon } from './icon';
import {
  ActionsToolbar,
  CellsSection,
  ChecksSection,
  CompareSection,
  DriftSection,
  ISectionToggle,
  JobsArea,
  StatusSection,
  VerdictBlock
} from './sections';

const TOOL_ICONS = {
  export: <downloadIcon.react tag="span" className="jp-ToolbarButtonComponent-icon" />,
  verify: <checkIcon.react tag="span" className="jp-ToolbarButtonComponent-icon" />,
  restore: <historyIcon.react tag="span" className="jp-ToolbarButtonComponent-icon" />,
  compare: <listIcon.react tag="span" className="jp-ToolbarButtonComponent-icon" />
};

function Body(props: {
  state: IReproState;
  trans: TranslationBundle;
  onReveal: (cell: ICellDiff) => void;
  cellLabel: (cell: ICellDiff) => string;
  cellIndex?: (cell: ICellDiff) => number;
  toggle: ISectionToggle;
  onCompareToggle: (open: boolean) => void;
  onComparePick: (a: number | null, b: number | null) => void;
}): JSX.Element | null {
  const { state, trans } = props;
  switch (state.phase) {
    case 'idle':
      return (
        <div className="jp-repro-placeholder jp-repro-idle">
          {trans.__('Open a notebook to see its reproducibility record.')}
        </div>
      );
    case 'loading':
      return <div className="jp-repro-placeholder jp-repro-loading">{trans.__('Loading…')}</div>;
    case 'error':
      return (
        <div className="jp-repro-placeholder jp-repro-error" role="alert">
          <strong>{trans.__('The server could not read the record.')}</strong>
          <div className="jp-repro-error-message">{state.error}</div>
        </div>
      );
    case 'empty':
      return (
        <div className="jp-repro-placeholder jp-repro-empty">
          <strong>{trans.__('Nothing recorded for this notebook yet.')}</strong>
          <p>
            {trans.__(
              'Put these lines in the first cell, then run the notebook: every later cell is recorded.'
            )}
          </p>
          <pre className="jp-repro-start-lines">
            {'%load_ext repro_nb\n%repro_seed 42\n%repro_snapshot on'}
          </pre>
          <p className="jp-repro-detail">
            {trans.__(
              '%repro_seed 42 seeds every random generator; %repro_snapshot on starts recording.'
            )}
          </p>
        </div>
      );
    case 'ready':
      return (
        <>
          <VerdictBlock
            trans={trans}
            state={state}
            onReveal={props.onReveal}
            cellLabel={props.cellLabel}
          />
          <CellsSection
            trans={trans}
            cells={state.cells}
            error={state.sectionErrors.cells}
            onReveal={props.onReveal}
            cellLabel={props.cellLabel}
            cellIndex={props.cellIndex}
            toggle={props.toggle}
          />
          <ChecksSection
            trans={trans}
            checks={state.checks}
            error={state.sectionErrors.checks}
            toggle={props.toggle}
          />
          {state.status && (
            <StatusSection trans={trans} status={state.status} toggle={props.toggle} />
          )}
          <DriftSection
            trans={trans}
            drift={state.drift}
            error={state.sectionErrors.drift}
            toggle={props.toggle}
            numbers={runNumbers(state.status)}
          />
          <CompareSection
            trans={trans}
            compare={state.compare}
            runs={state.runs}
            runsError={state.sectionErrors.runs}
            onToggle={props.onCompareToggle}
            onPick={props.onComparePick}
            onReveal={props.onReveal}
            cellLabel={props.cellLabel}
          />
        </>
      );
  }
}

/**
 * The left-area sidebar: renders the model's state; the model tracks the
 * active notebook (wired in index.ts) and polls while this is visible.
 */
export class ReproSidebar extends ReactWidget {
  constructor(options: ReproSidebar.IOptions) {
    super();
    this.model = options.model;
    this._onReveal = options.onReveal;
    this._cellLabel = options.cellLabel;
    this._cellIndex = options.cellIndex;
    this._verifyRuns = options.verifyRuns ?? (() => 1);
    this._onSwitchKernel = options.onSwitchKernel;
    this._trans = (options.translator ?? nullTranslator).load('repro_nb');
    this.id = SIDEBAR_ID;
    this.addClass('jp-repro-sidebar');
    this.title.icon = reproIcon;
    this.title.caption = this._trans.__(
      'Reproducibility: does this notebook reproduce its baseline run?'
    );
    this._toggle = {
      isOpen: (name, byDefault) => this._open.get(name) ?? byDefault,
      onToggle: (name, open) => {
        this._open.set(name, open);
        this.update();
      }
    };
  }

  readonly model: ReproModel;

  /** Open the compare section and scroll it into view (the "Compare Runs…" command). */
  showCompare(): void {
    this.model.compareOpen = true;
    // React renders the opened section on its next pass.
    requestAnimationFrame(() => {
      this.node.querySelector('.jp-repro-compare')?.scrollIntoView({ block: 'start' });
    });
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.active = true;
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.model.active = false;
  }

  render(): JSX.Element {
    const trans = this._trans;
    return (
      <UseSignal signal={this.model.stateChanged} initialArgs={this.model.state}>
        {(_, state) => {
          const current = state ?? this.model.state;
          return (
            <div className="jp-repro-root" data-phase={current.phase}>
              <header className="jp-repro-header">
                <span className="jp-repro-title">{trans.__('Reproducibility')}</span>
                <button
                  className="jp-repro-refresh jp-ToolbarButtonComponent"
                  title={trans.__('Refresh')}
                  disabled={current.path === null}
                  onClick={() => void this.model.refresh()}
                >
                  <refreshIcon.react tag="span" />
                </button>
              </header>
              {current.path && (
                <div className="jp-repro-path" title={current.path}>
                  {current.path}
                </div>
              )}
              <ActionsToolbar
                trans={trans}
                state={current}
                icons={TOOL_ICONS}
                onStart={kind =>
                  void (kind === 'export'
                    ? this.model.startExport()
                    : kind === 'restore'
                      ? this.model.startRestore()
                      : this.model.startVerify(this._verifyRuns()))
                }
                onCompare={() => this.showCompare()}
              />
              <JobsArea
                trans={trans}
                state={current}
                downloadURL={job => this.model.downloadURL(job)}
                onSwitchKernel={this._onSwitchKernel}
                downloadIcon={<downloadIcon.react tag="span" className="jp-repro-button-icon" />}
              />
              <Body
                state={current}
                trans={trans}
                onReveal={this._onReveal}
                cellLabel={this._cellLabel ?? (cell => labelOf(cell.index))}
                cellIndex={this._cellIndex}
                toggle={this._toggle}
                onCompareToggle={open => (this.model.compareOpen = open)}
                onComparePick={(a, b) => void this.model.compareRuns(a, b)}
              />
            </div>
          );
        }}
      </UseSignal>
    );
  }

  private _cellLabel?: (cell: ICellDiff) => string;
  private _cellIndex?: (cell: ICellDiff) => number;
  private _open = new Map<string, boolean>();
  private _toggle: ISectionToggle;
  private _onReveal: (cell: ICellDiff) => void;
  private _trans: TranslationBundle;
  private _verifyRuns: () => number;
  private _onSwitchKernel?: (name: string) => void;
}

export namespace ReproSidebar {
  export interface IOptions {
    model: ReproModel;
    /** Scroll the notebook to a cell of the cells section. */
    onReveal: (cell: ICellDiff) => void;
    /** A cell's label in the followed notebook: `cell 5 (code cell 3)`. */
    cellLabel?: (cell: ICellDiff) => string;
    /** A cell's 0-based place in the followed notebook (-1 when it is not there). */
    cellIndex?: (cell: ICellDiff) => number;
    /** Switch the followed notebook to a kernel (the restored environment's). */
    onSwitchKernel?: (name: string) => void;
    /** How many runs the Verify button asks for (from the settings). */
    verifyRuns?: () => number;
    translator?: ITranslator;
  }
}
