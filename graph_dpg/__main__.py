from graph_dpg.cli import main

raise SystemExit(main())
