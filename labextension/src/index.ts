import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { Debouncer } from '@lumino/polling';

import { ReproAPI } from './api';
import { cellDiffLabel, findCellIndex } from './cells';
import { ReproModel } from './model';
import { sidebarBelongsOn } from './pages';
import { CommandIDs, ICellDiff, IReproModel } from './tokens';
import { reproIcon } from './widgets/icon';
import { ReproSidebar } from './widgets/sidebar';

const PLUGIN_ID = 'repro-nb:plugin';

const plugin: JupyterFrontEndPlugin<IReproModel> = {
  id: PLUGIN_ID,
  description:
    'A sidebar showing whether the active notebook is seeded and deterministic, its drift, checks and cells vs baseline, with export and verify.',
  autoStart: true,
  // Only tokens that both JupyterLab and Notebook 7 provide are required: the sidebar goes
  // through `app.shell` (JupyterFrontEnd.IShell), whose 'left' area is JupyterLab's left
  // sidebar and, in Notebook 7, the notebook page's left panel (View > Left Sidebar).
  requires: [INotebookTracker],
  optional: [ICommandPalette, ISettingRegistry, ITranslator, ILayoutRestorer],
  provides: IReproModel,
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null,
    restorer: ILayoutRestorer | null
  ): IReproModel => {
    const trans = (translator ?? nullTranslator).load('repro_nb');
    const model = new ReproModel({ api: new ReproAPI(), active: false });
    let refreshOnExecute = true;
    let verifyRuns = 1;

    const reveal = (cell: ICellDiff): void => {
      const panel = tracker.currentWidget;
      if (!panel) {
        return;
      }
      const index = findCellIndex(panel.content.widgets, cell);
      if (index < 0) {
        return;
      }
      const notebook = panel.content;
      notebook.activeCellIndex = index;
      notebook.deselectAll();
      void notebook.scrollToItem(index, 'center');
      app.shell.activateById(panel.id);
    };

    const cellLabel = (cell: ICellDiff): string =>
      cellDiffLabel(tracker.currentWidget?.content.widgets ?? [], cell);

    // The restored environment's kernel: refresh the specs (it was just written), then
    // switch the followed notebook to it.
    const switchKernel = async (name: string): Promise<void> => {
      const panel = tracker.currentWidget;
      if (!panel) {
        return;
      }
      await app.serviceManager.kernelspecs.refreshSpecs();
      await panel.sessionContext.changeKernel({ name });
    };

    const sidebar = new ReproSidebar({
      model,
      onReveal: reveal,
      cellLabel,
      cellIndex: cell => findCellIndex(tracker.currentWidget?.content.widgets ?? [], cell),
      onSwitchKernel: name => void switchKernel(name),
      verifyRuns: () => verifyRuns,
      translator: translator ?? nullTranslator
    });
    const placed = sidebarBelongsOn(PageConfig.getOption('notebookPage'));
    if (placed) {
      app.shell.add(sidebar, 'left', { rank: 850 });
      if (restorer) {
        restorer.add(sidebar, sidebar.id);
      }
    }

    // Follow the active notebook (and its renames).
    const follow = (panel: NotebookPanel | null): void => {
      model.path = panel ? panel.context.localPath : null;
    };
    tracker.currentChanged.connect((_, panel) => follow(panel));
    tracker.widgetAdded.connect((_, panel) => {
      panel.context.pathChanged.connect(() => {
        if (tracker.currentWidget === panel) {
          follow(panel);
        }
      });
    });
    follow(tracker.currentWidget);

    // A cell finished: the kernel's recorder writes from a background thread,
    // so coalesce bursts (Run All) and read shortly after.
    const executed = new Debouncer(() => model.refresh(), 400);
    NotebookActions.executed.connect((_, { notebook }) => {
      if (refreshOnExecute && notebook === tracker.currentWidget?.content) {
        void executed.invoke();
      }
    });

    const hasNotebook = (): boolean => model.path !== null;
    app.commands.addCommand(CommandIDs.open, {
      label: trans.__('Show Reproducibility Sidebar'),
      icon: reproIcon,
      isVisible: () => placed,
      execute: () => app.shell.activateById(sidebar.id)
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: trans.__('Refresh Reproducibility Record'),
      isEnabled: hasNotebook,
      execute: () => model.refresh()
    });
    app.commands.addCommand(CommandIDs.exportBundle, {
      label: trans.__('Export Reproducibility Bundle'),
      isEnabled: hasNotebook,
      execute: async () => {
        app.shell.activateById(sidebar.id);
        await model.startExport();
      }
    });
    app.commands.addCommand(CommandIDs.verify, {
      label: trans.__('Verify Notebook in Fresh Kernels'),
      isEnabled: hasNotebook,
      execute: async () => {
        app.shell.activateById(sidebar.id);
        await model.startVerify(verifyRuns);
      }
    });
    app.commands.addCommand(CommandIDs.compare, {
      label: trans.__('Compare Notebook Runs…'),
      caption: trans.__(
        'Compare two recorded runs of the notebook: configuration, git, environment, checks and cells'
      ),
      isEnabled: hasNotebook,
      execute: args => {
        app.shell.activateById(sidebar.id);
        const run = (value: unknown): number | null =>
          typeof value === 'number' && Number.isInteger(value) ? value : null;
        if (args.a !== undefined || args.b !== undefined) {
          void model.compareRuns(run(args.a), run(args.b));
        }
        sidebar.showCompare();
      }
    });
    app.commands.addCommand(CommandIDs.restore, {
      label: trans.__('Restore Notebook Environment…'),
      isEnabled: hasNotebook,
      execute: async () => {
        app.shell.activateById(sidebar.id);
        await model.startRestore();
      }
    });
    if (palette) {
      const category = trans.__('Reproducibility');
      for (const command of [
        CommandIDs.open,
        CommandIDs.refresh,
        CommandIDs.exportBundle,
        CommandIDs.verify,
        CommandIDs.compare,
        CommandIDs.restore
      ]) {
        palette.addItem({ command, category });
      }
    }

    if (settingRegistry) {
      const apply = (settings: ISettingRegistry.ISettings): void => {
        const seconds = settings.get('pollInterval').composite as number;
        model.interval = Math.max(1, seconds) * 1000;
        refreshOnExecute = settings.get('refreshOnExecute').composite as boolean;
        verifyRuns = settings.get('verifyRuns').composite as number;
      };
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          apply(settings);
          settings.changed.connect(apply);
        })
        .catch(reason => {
          console.error('repro-nb: failed to load settings.', reason);
        });
    }

    return model;
  }
};

export default plugin;
