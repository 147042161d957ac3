from voca_cn.apps.cli import main

raise SystemExit(main())
